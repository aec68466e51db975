// Log-probabilities of several candidate continuations of one shared prefix
// under the decoder: the prefix is prefilled once, then the candidates run
// together as branches of one forward (LlamaSession::extend_branches, up to
// kBranchTokens tokens a forward), each seeing the prefix and its own
// earlier tokens only, so the prefix is never recomputed and the products
// are prefill-sized matrices rather than a handful of rows per candidate.
//
// For a candidate c = (c_1 .. c_m) after prefix p:
//   log P(c | p) = sum_k log softmax(logits after p, c_1 .. c_{k-1})[c_k]
// with the softmax over the whole vocabulary, in double. c_1's logits are
// the prefix's own, so a candidate of m tokens costs m - 1 branch tokens.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/llm/llama_model.h"

namespace hybrec::llm {

// Branch tokens per forward: bounds the logits held at once (256 rows of
// SmolLM2's 49,152 logits are 50 MB).
inline constexpr int64_t kBranchTokens = 256;

struct ContinuationScore {
  double logprob = 0.0;  // log P(c | prefix), natural log
  int64_t tokens = 0;    // m
  // The length-normalised log-likelihood: mean log-probability per token.
  double mean() const { return logprob / static_cast<double>(tokens); }
};

// log softmax(logits)[token] over logits[0, vocab), in double with the
// maximum subtracted. Throws naming the token when it is outside [0, vocab).
double log_softmax_at(const float* logits, int64_t vocab, int32_t token);

// Scores every candidate (each at least one token) after `prefix` (at least
// one token) on `session`, which is reset and left holding the prefix. The
// prefix plus each candidate but its last token must fit the session's
// context: the call throws naming the candidate otherwise (the caller
// truncates).
std::vector<ContinuationScore> score_continuations(
    LlamaSession& session, const std::vector<int32_t>& prefix,
    const std::vector<std::vector<int32_t>>& candidates);

}  // namespace hybrec::llm
