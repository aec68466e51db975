// Scores an explainer on a dataset's held-out text: `hybrec eval
// --explanations` computes these from the generator's explain function.
// The explainer is any function of (user, item), so this room needs no
// language model and a test can pass a fake one.
//
// Text metrics (BLEU-1/4, ROUGE-1/2/L, FMR, FCR, DIV, distinct-1/2, USR:
// text_overlap.h, explanation_metrics.h) are over the offered pairs that
// have a reference, duplicates dropped, at most max_pairs of them (a seeded
// sample, kept in the offered order). The personalisation check explains
// some items to several users each and counts the items whose explanation
// changes with the user. Each (user, item) is explained once, however many
// parts use it.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "trainer/eval/explanation_metrics.h"
#include "trainer/eval/explanation_references.h"

namespace hybrec::trainer {

// What an explainer returns: one sentence and the aspect words it was told
// to use (or used).
struct Explanation {
  std::string sentence;
  std::vector<std::string> aspects;
};

using ExplainFn = std::function<Explanation(int64_t user, int64_t item)>;
// What the explainer is shown of a user's history (e.g. their recent item
// ids); users with equal histories are not counted twice for one item.
using HistoryFn = std::function<std::vector<int64_t>(int64_t user)>;

struct ExplanationEvalOptions {
  int64_t max_pairs = 0;  // pairs scored against references; 0 = all
  uint64_t seed = 1;      // the sample when there are more than max_pairs
  // The personalisation check: the candidate (user, item) pairs (e.g. the
  // top-K lists recommended to some users; empty = the offered pairs), of
  // which the items with the most distinct users (ties: lower id) are
  // taken, at most personalisation_items of them, each explained to its
  // first users_per_item candidate users whose histories differ.
  std::vector<UserItem> personalisation_pairs;
  int64_t personalisation_items = 20;
  int64_t users_per_item = 3;
  // Unset: every two users count as having different histories.
  HistoryFn history;
  // Called after each explanation with (done, total), when set.
  std::function<void(int64_t, int64_t)> on_progress;
};

struct ExplanationEvalResult {
  std::string reference_kind;        // reference_kind_name
  int64_t pairs_offered = 0;         // distinct offered pairs
  int64_t pairs_with_reference = 0;  // of those, with a reference
  int64_t pairs_scored = 0;          // of those, scored (max_pairs)
  int64_t pairs_with_feature = 0;    // of the scored, with a feature (FMR's denominator)
  int64_t feature_set_size = 0;      // FCR's denominator
  int64_t explanations = 0;          // explain calls made
  double bleu1 = 0, bleu4 = 0;       // x100
  RougeScores rouge;                 // x100
  double fmr = -1, fcr = -1, div = -1;
  double distinct1 = -1, distinct2 = -1, usr = -1;
  // Of the scored explanations that list an aspect word, the fraction whose
  // sentence contains one of them (-1 when none lists any).
  double aspects_in_sentence = -1;
  PersonalisationScore personalisation;
};

// Throws hybrec::Error when max_pairs, personalisation_items or
// users_per_item is negative, and passes on the explainer's errors with the
// (user, item) it failed on.
ExplanationEvalResult evaluate_explanations(const std::vector<UserItem>& pairs,
                                            const ExplainFn& explain,
                                            const ExplanationReferences& references,
                                            const ExplanationEvalOptions& options = {});

// The metrics.jsonl line: {"event":"eval_explanations","references":..,
// "pairs_offered":..,"pairs_with_reference":..,"pairs_scored":..,
// "pairs_with_feature":..,"feature_set":..,"explanations":..,"bleu1":..,
// "bleu4":..,"rouge1":..,"rouge2":..,"rougeL":..,"fmr":..,"fcr":..,"div":..,
// "distinct1":..,"distinct2":..,"usr":..,"aspects_in_sentence":..,
// "personalised_items":..,"personalised_differing":..,"personalised_ratio":..,
// "personalised_distinct_share":..}.
nlohmann::json explanation_event(const ExplanationEvalResult& result);

// A few lines for the console.
std::string format_explanation_result(const ExplanationEvalResult& result);

}  // namespace hybrec::trainer
