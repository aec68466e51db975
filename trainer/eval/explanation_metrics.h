// What generated explanations say, beyond word overlap with a reference:
// whether they name the given feature, how many features and how much
// variety they use, and whether one item's explanation changes with the
// user. The feature metrics follow PETER's utils.py (feature_detect,
// feature_matching_ratio, feature_coverage_ratio, feature_diversity,
// unique_sentence_percent); distinct-n and the personalisation check are
// defined here. All work on tokenize_words tokens (text_overlap.h).
//
// A feature (aspect) is a phrase of one or more tokens: PETER's are single
// words, a MovieLens tag may be several ("dark comedy"). A sentence
// contains a feature when the feature's tokens occur in it as a contiguous
// run.
//
// A ratio that has nothing to count (no sentence, an empty feature set) is
// -1, as beyond_accuracy.h reports an undefined ild.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "trainer/eval/text_overlap.h"

namespace hybrec::trainer {

// True when `feature` (non-empty) occurs in `sentence` as a contiguous run.
bool contains_feature(const Tokens& sentence, const Tokens& feature);

// The members of `feature_set` that `sentence` contains (PETER's
// feature_detect, for phrases).
std::set<Tokens> detect_features(const Tokens& sentence, const std::set<Tokens>& feature_set);

// FMR: the fraction of sentences that contain their given feature, over the
// sentences whose given feature is non-empty (a pair without a feature is
// left out). given[k] belongs to sentences[k]. -1 when no pair has a
// feature. Throws hybrec::Error when the lengths differ.
double feature_matching_ratio(const std::vector<Tokens>& sentences,
                              const std::vector<Tokens>& given);

// FCR: distinct members of `feature_set` found in any sentence /
// |feature_set|. PETER's feature set is every feature of the dataset, not
// only of the pairs evaluated. -1 for an empty set.
double feature_coverage_ratio(const std::vector<std::set<Tokens>>& detected,
                              const std::set<Tokens>& feature_set);

// DIV: the mean, over unordered pairs of sentences, of the number of
// detected features the two share; lower is more diverse (PETER's
// feature_diversity). -1 for fewer than two sentences.
double feature_diversity(const std::vector<std::set<Tokens>>& detected);

// distinct-n: distinct n-grams over all sentences / all n-grams over all
// sentences (a sentence shorter than n has none). -1 when there is no
// n-gram at all.
double distinct_ngrams(const std::vector<Tokens>& sentences, int n);

// USR: distinct token sequences / sentences (PETER's
// unique_sentence_percent; sentences that differ only in case or
// punctuation are the same). -1 for no sentence.
double unique_sentence_ratio(const std::vector<Tokens>& sentences);

// The personalisation check: per item, the explanations it got for
// different users (with different histories; the caller picks them).
struct PersonalisationScore {
  int64_t items = 0;            // items with explanations for >= 2 users
  int64_t items_differing = 0;  // of those, items whose explanations are not all the same
  double ratio = -1;            // items_differing / items, -1 when items == 0
  // Mean over those items of distinct explanations / users: 1 when every
  // user got a sentence of their own, 1/users when all got the same one.
  double mean_distinct_share = -1;
};
PersonalisationScore personalisation(const std::vector<std::vector<Tokens>>& per_item);

}  // namespace hybrec::trainer
