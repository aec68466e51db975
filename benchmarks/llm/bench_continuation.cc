// The cost of one request of the generated-text score term: a prompt
// prefilled once, then N candidate continuations scored from it as branches
// of one forward (trainer/llm/continuation_score.h), against the same
// candidates run as one forward each:
//   bench_continuation [--model FILE] [--prefix 95] [--candidates 20]
//                      [--tokens 6] [--threads 1] [--reps 3]
// The defaults are the shape measured on ml-latest-small (a prompt of 10
// titles, 20 titles of ~6 tokens with the closing newline). Prints one JSON
// line per thread count: median seconds of the prefill, of the candidates
// as branches of one forward, of the same candidates one forward each, and
// of a whole request. Token ids are fixed (1000, 1001, ...): speed does not
// depend on what they say.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "trainer/llm/continuation_score.h"
#include "trainer/llm/llama_model.h"
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
  using hybrec::llm::LlamaSession;
  const std::string path = flag(argc, argv, "model", "models/SmolLM2-135M-Instruct.Q4_1.gguf");
  const int64_t prefix_len = std::stoll(flag(argc, argv, "prefix", "95"));
  const int64_t n = std::stoll(flag(argc, argv, "candidates", "20"));
  const int64_t tokens = std::stoll(flag(argc, argv, "tokens", "6"));
  const int reps = std::stoi(flag(argc, argv, "reps", "3"));
  std::vector<int> thread_counts;
  std::stringstream list(flag(argc, argv, "threads", "1"));
  for (std::string t; std::getline(list, t, ',');) thread_counts.push_back(std::stoi(t));
  try {
    hybrec::text::GgufFile file(path);
    hybrec::llm::LlamaModel model(file);
    std::vector<int32_t> prefix;
    for (int64_t i = 0; i < prefix_len; ++i) prefix.push_back(static_cast<int32_t>(1000 + i));
    std::vector<std::vector<int32_t>> candidates(static_cast<std::size_t>(n));
    for (int64_t c = 0; c < n; ++c) {
      for (int64_t t = 0; t < tokens; ++t) {
        candidates[c].push_back(static_cast<int32_t>(2000 + c * tokens + t));
      }
    }
    for (int threads : thread_counts) {
      omp_set_num_threads(threads);
      std::vector<double> prefill_s, branches_s, each_s;
      for (int r = 0; r <= reps; ++r) {
        LlamaSession session(model);
        auto start = std::chrono::steady_clock::now();
        session.prefill(prefix);
        const double prefill = seconds_since(start);
        // score_continuations prefills again: its candidate part is the rest.
        start = std::chrono::steady_clock::now();
        hybrec::llm::score_continuations(session, prefix, candidates);
        const double request = seconds_since(start);
        start = std::chrono::steady_clock::now();
        for (const auto& c : candidates) {
          session.extend_branches({std::vector<int32_t>(c.begin(), c.end() - 1)});
        }
        const double each = seconds_since(start);
        if (r == 0) continue;  // warm-up
        prefill_s.push_back(prefill);
        branches_s.push_back(request - prefill);
        each_s.push_back(each);
      }
      const double pre = median(prefill_s), branches = median(branches_s);
      std::printf(
          "{\"model\": \"%s\", \"threads\": %d, \"prefix_tokens\": %lld, \"candidates\": %lld, "
          "\"tokens_per_candidate\": %lld, \"prefill_s\": %.3f, \"candidates_as_branches_s\": "
          "%.3f, "
          "\"candidates_one_forward_each_s\": %.3f, \"request_s\": %.3f, \"reps\": %d}\n",
          path.c_str(), threads, static_cast<long long>(prefix_len), static_cast<long long>(n),
          static_cast<long long>(tokens), pre, branches, median(each_s), pre + branches, reps);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_continuation: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
