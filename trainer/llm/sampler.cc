#include "trainer/llm/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "hybrec/kernels/error.h"

namespace hybrec::llm {

int32_t argmax(const std::vector<float>& logits) {
  HYBREC_CHECK(!logits.empty(), "argmax: no logits");
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

void apply_repetition_penalty(std::vector<float>* logits, const std::vector<int32_t>& history,
                              float penalty) {
  if (penalty == 1.0f) return;
  std::unordered_set<int32_t> seen;
  const auto vocab = static_cast<int64_t>(logits->size());
  for (int32_t t : history) {
    HYBREC_CHECK(t >= 0 && t < vocab, "apply_repetition_penalty: token id ", t,
                 " out of range [0, ", vocab, ")");
    if (!seen.insert(t).second) continue;
    float& v = (*logits)[static_cast<std::size_t>(t)];
    v = v > 0.0f ? v / penalty : v * penalty;
  }
}

Sampler::Sampler(const SamplerConfig& config) : config_(config), rng_(config.seed) {
  HYBREC_CHECK(config.top_k >= 0, "Sampler: top_k must be >= 0, got ", config.top_k);
  HYBREC_CHECK(config.top_p > 0.0f && config.top_p <= 1.0f,
               "Sampler: top_p must be in (0, 1], got ", config.top_p);
  HYBREC_CHECK(config.repetition_penalty > 0.0f, "Sampler: repetition_penalty must be > 0, got ",
               config.repetition_penalty);
  HYBREC_CHECK(config.max_new_tokens >= 0, "Sampler: max_new_tokens must be >= 0, got ",
               config.max_new_tokens);
}

int32_t Sampler::sample(std::vector<float> logits, const std::vector<int32_t>& history) {
  apply_repetition_penalty(&logits, history, config_.repetition_penalty);
  if (config_.temperature <= 0.0f) return argmax(logits);

  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  // Decreasing logit, lower id first among ties, so the draw is reproducible.
  auto by_logit = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::size_t keep = order.size();
  if (config_.top_k > 0 && static_cast<std::size_t>(config_.top_k) < keep) {
    keep = static_cast<std::size_t>(config_.top_k);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                      by_logit);
  } else {
    std::sort(order.begin(), order.end(), by_logit);
  }
  order.resize(keep);

  std::vector<double> prob(keep);
  const double top = logits[order[0]] / config_.temperature;
  double sum = 0.0;
  for (std::size_t i = 0; i < keep; ++i) {
    prob[i] = std::exp(logits[order[i]] / config_.temperature - top);
    sum += prob[i];
  }
  std::size_t nucleus = keep;
  double mass = 0.0;
  for (std::size_t i = 0; i < keep; ++i) {
    prob[i] /= sum;
    mass += prob[i];
    if (mass >= config_.top_p && nucleus == keep) nucleus = i + 1;
  }
  const double nucleus_mass = std::accumulate(prob.begin(), prob.begin() + nucleus, 0.0);
  const double u = std::uniform_real_distribution<double>(0.0, nucleus_mass)(rng_);
  double acc = 0.0;
  for (std::size_t i = 0; i < nucleus; ++i) {
    acc += prob[i];
    if (u < acc) return order[i];
  }
  return order[nucleus - 1];
}

Generation generate(const std::vector<float>& first_logits,
                    const std::function<std::vector<float>(int32_t)>& step, Sampler* sampler,
                    std::vector<int32_t> history) {
  Generation g;
  const auto& cfg = sampler->config();
  std::vector<float> logits = first_logits;
  for (int64_t i = 0; i < cfg.max_new_tokens; ++i) {
    const int32_t token = sampler->sample(logits, history);
    g.tokens.push_back(token);
    history.push_back(token);
    if (std::find(cfg.stop_tokens.begin(), cfg.stop_tokens.end(), token) != cfg.stop_tokens.end()) {
      g.stopped = true;
      break;
    }
    if (i + 1 < cfg.max_new_tokens) logits = step(token);
  }
  return g;
}

}  // namespace hybrec::llm
