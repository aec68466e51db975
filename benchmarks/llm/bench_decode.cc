// Prompt and decode speed of hybrec's Llama decoder (trainer/llm) on a GGUF
// model, greedy, one sequence:
//   bench_decode [--model FILE] [--prompt 64] [--decode 32] [--threads 1,2] [--reps 3]
// For each thread count: one warm-up run, then `reps` runs of a prefill of
// `prompt` tokens followed by `decode` single-token steps; prints one JSON
// line per thread count with the median prompt tokens/s (prefill), decode
// tokens/s (steps, logits and the argmax included) and the median wall time
// of the whole job (prefill + steps). The prompt is fixed token ids
// (1000, 1001, ...): speed does not depend on what they say.
// benchmarks/llm/vs_llama_cpp.sh runs it against llama.cpp.
//
// Like `hybrec train`, it sets OMP_WAIT_POLICY=passive (re-executing itself
// once, as the OpenMP runtime reads it at load) unless it is set: with
// libgomp's default spinning, two threads on a shared 2-core machine decoded
// at a fifth of the speed of one.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "trainer/llm/llama_model.h"
#include "trainer/llm/sampler.h"
#include "trainer/text/gguf.h"

namespace {

std::string flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == "--" + name) return argv[i + 1];
  return fallback;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    ::setenv("OMP_WAIT_POLICY", "passive", 1);
    ::execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
  }
  const std::string path = flag(argc, argv, "model", "models/SmolLM2-135M-Instruct.Q4_1.gguf");
  const int64_t prompt_len = std::stoll(flag(argc, argv, "prompt", "64"));
  const int64_t decode_len = std::stoll(flag(argc, argv, "decode", "32"));
  const int reps = std::stoi(flag(argc, argv, "reps", "3"));
  std::vector<int> thread_counts;
  std::stringstream list(flag(argc, argv, "threads", "1,2"));
  for (std::string t; std::getline(list, t, ',');) thread_counts.push_back(std::stoi(t));
  try {
    hybrec::text::GgufFile file(path);
    hybrec::llm::LlamaModel model(file);
    std::vector<int32_t> prompt;
    for (int64_t i = 0; i < prompt_len; ++i) prompt.push_back(static_cast<int32_t>(1000 + i));
    for (int threads : thread_counts) {
      omp_set_num_threads(threads);
      std::vector<double> prompt_tps, decode_tps, wall_s;
      for (int r = 0; r <= reps; ++r) {
        hybrec::llm::LlamaSession session(model);
        auto start = std::chrono::steady_clock::now();
        auto logits = session.prefill(prompt);
        const double prefill_s = seconds_since(start);
        start = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < decode_len; ++i) logits = session.step(hybrec::llm::argmax(logits));
        const double decode_s = seconds_since(start);
        if (r == 0) continue;  // warm-up
        prompt_tps.push_back(static_cast<double>(prompt_len) / prefill_s);
        decode_tps.push_back(static_cast<double>(decode_len) / decode_s);
        wall_s.push_back(prefill_s + decode_s);
      }
      std::printf(
          "{\"model\": \"%s\", \"threads\": %d, \"prompt_tokens\": %lld, \"decode_tokens\": %lld, "
          "\"prompt_tokens_per_s\": %.1f, \"decode_tokens_per_s\": %.1f, \"wall_s\": %.4f, "
          "\"omp_wait_policy\": \"%s\", \"reps\": %d}\n",
          path.c_str(), threads, static_cast<long long>(prompt_len),
          static_cast<long long>(decode_len), median(prompt_tps), median(decode_tps),
          median(wall_s), std::getenv("OMP_WAIT_POLICY"), reps);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_decode: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
