#include "trainer/llm/continuation_score.h"

#include <algorithm>
#include <cmath>

#include "hybrec/kernels/error.h"

namespace hybrec::llm {

double log_softmax_at(const float* logits, int64_t vocab, int32_t token) {
  HYBREC_CHECK(token >= 0 && token < vocab, "log_softmax_at: token id ", token,
               " out of range [0, ", vocab, ")");
  const float mx = *std::max_element(logits, logits + vocab);
  double sum = 0.0;
  for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(logits[v]) - mx);
  return static_cast<double>(logits[token]) - mx - std::log(sum);
}

std::vector<ContinuationScore> score_continuations(
    LlamaSession& session, const std::vector<int32_t>& prefix,
    const std::vector<std::vector<int32_t>>& candidates) {
  const auto prefix_len = static_cast<int64_t>(prefix.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const auto m = static_cast<int64_t>(candidates[i].size());
    HYBREC_CHECK(m > 0, "score_continuations: candidate ", i, " has no tokens");
    HYBREC_CHECK(prefix_len + m - 1 <= session.max_len(), "score_continuations: candidate ", i,
                 " (", m, " tokens) after a prefix of ", prefix_len,
                 " tokens exceeds the context length ", session.max_len(),
                 "; truncate the prompt or the candidate");
  }
  std::vector<ContinuationScore> out(candidates.size());
  if (candidates.empty()) return out;
  const std::vector<float> first = session.prefill(prefix);
  const auto vocab = static_cast<int64_t>(first.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    out[i].tokens = static_cast<int64_t>(candidates[i].size());
    out[i].logprob = log_softmax_at(first.data(), vocab, candidates[i][0]);
  }
  // The bodies c_1 .. c_{m-1} of the candidates with m > 1 as branches,
  // kBranchTokens at most per forward (one longer candidate runs alone).
  std::vector<std::size_t> batch;
  std::vector<std::vector<int32_t>> branches;
  int64_t rows = 0;
  auto run = [&] {
    if (branches.empty()) return;
    const std::vector<float> logits = session.extend_branches(branches);
    int64_t row = 0;
    for (std::size_t b = 0; b < batch.size(); ++b) {
      const std::vector<int32_t>& c = candidates[batch[b]];
      for (std::size_t k = 1; k < c.size(); ++k, ++row) {
        out[batch[b]].logprob += log_softmax_at(logits.data() + row * vocab, vocab, c[k]);
      }
    }
    batch.clear();
    branches.clear();
    rows = 0;
  };
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const std::vector<int32_t>& c = candidates[i];
    const auto body = static_cast<int64_t>(c.size()) - 1;
    if (body == 0) continue;
    if (rows + body > kBranchTokens) run();
    batch.push_back(i);
    branches.emplace_back(c.begin(), c.end() - 1);
    rows += body;
  }
  run();
  return out;
}

}  // namespace hybrec::llm
