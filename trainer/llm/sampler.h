// Choosing the next token from a decoder's logits, and the decode loop.
//
// Order of the transforms (as llama.cpp and Hugging Face apply them):
//   1. repetition penalty over the distinct tokens of `history` (the prompt
//      and what was generated): a positive logit is divided by the penalty,
//      a negative one multiplied (CTRL's rule; 1 = off);
//   2. temperature <= 0: greedy, the argmax (the lowest id among ties);
//   3. otherwise logits / temperature, keep the top_k largest (0 = all),
//      softmax, keep the smallest prefix, by decreasing probability, whose
//      mass reaches top_p (1 = all), renormalise and draw with the sampler's
//      generator (std::mt19937_64 seeded with `seed`): the same seed and
//      inputs give the same tokens.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace hybrec::llm {

struct SamplerConfig {
  float temperature = 0.0f;         // <= 0: greedy
  int64_t top_k = 0;                // 0: no limit
  float top_p = 1.0f;               // in (0, 1]
  float repetition_penalty = 1.0f;  // >= 1 lowers seen tokens; 1 = off
  uint64_t seed = 0;
  std::vector<int32_t> stop_tokens;  // generation ends after emitting one
  int64_t max_new_tokens = 64;
};

// Index of the largest value (the lowest among ties); throws when empty.
int32_t argmax(const std::vector<float>& logits);

// Step 1 above, in place.
void apply_repetition_penalty(std::vector<float>* logits, const std::vector<int32_t>& history,
                              float penalty);

class Sampler {
 public:
  // Throws on a config out of range (top_k < 0, top_p outside (0, 1],
  // repetition_penalty <= 0), naming the field and its value.
  explicit Sampler(const SamplerConfig& config);
  const SamplerConfig& config() const { return config_; }

  // The next token for these logits given the tokens so far.
  int32_t sample(std::vector<float> logits, const std::vector<int32_t>& history);

 private:
  SamplerConfig config_;
  std::mt19937_64 rng_;
};

struct Generation {
  std::vector<int32_t> tokens;  // the new tokens, the stop token included
  bool stopped = false;         // ended on a stop token (else max_new_tokens)
};

// The decode loop: samples from `first_logits` (the prefill's), then feeds
// each new token to `step` (which returns the next logits) until a stop
// token or max_new_tokens. `history` starts as the prompt.
Generation generate(const std::vector<float>& first_logits,
                    const std::function<std::vector<float>(int32_t)>& step, Sampler* sampler,
                    std::vector<int32_t> history);

}  // namespace hybrec::llm
