#include "trainer/eval/explanation_metrics.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

bool contains_feature(const Tokens& sentence, const Tokens& feature) {
  if (feature.empty()) return false;
  return std::search(sentence.begin(), sentence.end(), feature.begin(), feature.end()) !=
         sentence.end();
}

std::set<Tokens> detect_features(const Tokens& sentence, const std::set<Tokens>& feature_set) {
  // Look each run of the sentence up in the set, rather than each feature
  // in the sentence: the set may hold thousands, a sentence a few dozen
  // tokens.
  size_t longest = 0;
  for (const Tokens& feature : feature_set) longest = std::max(longest, feature.size());
  std::set<Tokens> found;
  for (size_t i = 0; i < sentence.size(); ++i) {
    Tokens run;
    for (size_t j = i; j < sentence.size() && run.size() < longest; ++j) {
      run.push_back(sentence[j]);
      if (feature_set.count(run) != 0) found.insert(run);
    }
  }
  return found;
}

double feature_matching_ratio(const std::vector<Tokens>& sentences,
                              const std::vector<Tokens>& given) {
  HYBREC_CHECK(sentences.size() == given.size(), "feature_matching_ratio: ", sentences.size(),
               " sentences but ", given.size(), " given features");
  int64_t with_feature = 0, matched = 0;
  for (size_t k = 0; k < sentences.size(); ++k) {
    if (given[k].empty()) continue;
    ++with_feature;
    matched += contains_feature(sentences[k], given[k]) ? 1 : 0;
  }
  return with_feature == 0 ? -1.0
                           : static_cast<double>(matched) / static_cast<double>(with_feature);
}

double feature_coverage_ratio(const std::vector<std::set<Tokens>>& detected,
                              const std::set<Tokens>& feature_set) {
  if (feature_set.empty()) return -1;
  std::set<Tokens> covered;
  for (const auto& found : detected) {
    for (const Tokens& feature : found) {
      if (feature_set.count(feature) != 0) covered.insert(feature);
    }
  }
  return static_cast<double>(covered.size()) / static_cast<double>(feature_set.size());
}

double feature_diversity(const std::vector<std::set<Tokens>>& detected) {
  const size_t n = detected.size();
  if (n < 2) return -1;
  int64_t shared = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      for (const Tokens& feature : detected[i]) shared += detected[j].count(feature);
    }
  }
  return static_cast<double>(shared) / (static_cast<double>(n) * static_cast<double>(n - 1) / 2);
}

double distinct_ngrams(const std::vector<Tokens>& sentences, int n) {
  HYBREC_CHECK(n >= 1, "distinct_ngrams: n ", n, " is below 1");
  const auto order = static_cast<size_t>(n);
  std::set<Tokens> distinct;
  int64_t total = 0;
  for (const Tokens& sentence : sentences) {
    for (size_t i = 0; i + order <= sentence.size(); ++i) {
      distinct.emplace(sentence.begin() + static_cast<std::ptrdiff_t>(i),
                       sentence.begin() + static_cast<std::ptrdiff_t>(i + order));
      ++total;
    }
  }
  return total == 0 ? -1.0 : static_cast<double>(distinct.size()) / static_cast<double>(total);
}

double unique_sentence_ratio(const std::vector<Tokens>& sentences) {
  if (sentences.empty()) return -1;
  const std::set<Tokens> distinct(sentences.begin(), sentences.end());
  return static_cast<double>(distinct.size()) / static_cast<double>(sentences.size());
}

PersonalisationScore personalisation(const std::vector<std::vector<Tokens>>& per_item) {
  PersonalisationScore score;
  double share_sum = 0;
  for (const auto& explanations : per_item) {
    if (explanations.size() < 2) continue;
    const std::set<Tokens> distinct(explanations.begin(), explanations.end());
    ++score.items;
    score.items_differing += distinct.size() > 1 ? 1 : 0;
    share_sum += static_cast<double>(distinct.size()) / static_cast<double>(explanations.size());
  }
  if (score.items > 0) {
    score.ratio = static_cast<double>(score.items_differing) / static_cast<double>(score.items);
    score.mean_distinct_share = share_sum / static_cast<double>(score.items);
  }
  return score;
}

}  // namespace hybrec::trainer
