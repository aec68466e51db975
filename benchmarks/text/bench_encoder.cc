// Sentences per second of hybrec's BERT encoder (tokenisation included), the
// figure benchmarks/text/peers.py measures for sentence-transformers and
// onnxruntime on the same texts:
//   bench_text_encoder --model DIR --texts FILE [--threads T] [--batch 64] [--reps 5]
// FILE: peers.py --texts-out (JSON {"16": [...], "64": [...], "128": [...]}).
// Prints one JSON line per length: median and range over the repetitions,
// after one warm-up pass.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "trainer/text/bert_encoder.h"

namespace {

std::string flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == "--" + name) return argv[i + 1];
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string model = flag(argc, argv, "model", "models/all-MiniLM-L6-v2");
  const std::string texts_path = flag(argc, argv, "texts", "");
  const int threads = std::stoi(flag(argc, argv, "threads", "1"));
  const int64_t batch = std::stoll(flag(argc, argv, "batch", "64"));
  const int reps = std::stoi(flag(argc, argv, "reps", "5"));
  if (texts_path.empty()) {
    std::cerr << "usage: bench_text_encoder --model DIR --texts FILE [--threads T] [--batch N] "
                 "[--reps R]\n";
    return 2;
  }
  omp_set_num_threads(threads);
  std::ifstream in(texts_path);
  if (!in) {
    std::cerr << "bench_text_encoder: cannot open " << texts_path << "\n";
    return 1;
  }
  const nlohmann::json texts = nlohmann::json::parse(in);
  const hybrec::text::BertEncoder encoder(model);
  for (const auto& [length, list] : texts.items()) {
    const auto batch_texts = list.get<std::vector<std::string>>();
    std::vector<float> out(batch_texts.size() * static_cast<std::size_t>(encoder.dim()));
    std::vector<double> rates;
    for (int r = 0; r <= reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      encoder.encode(batch_texts, batch, out.data());
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r > 0) rates.push_back(static_cast<double>(batch_texts.size()) / s);  // r 0: warm-up
    }
    std::sort(rates.begin(), rates.end());
    nlohmann::json line = {{"engine", "hybrec"},
                           {"tokens", std::stoi(length)},
                           {"threads", threads},
                           {"batch", batch},
                           {"texts", batch_texts.size()},
                           {"median", rates[rates.size() / 2]},
                           {"min", rates.front()},
                           {"max", rates.back()}};
    std::cout << line.dump() << std::endl;
  }
  return 0;
}
