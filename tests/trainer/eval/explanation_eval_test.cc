// The explanation evaluation driver with a deterministic fake explainer:
// which pairs it scores, the metrics it reports over them (worked out by
// hand below), the personalisation check, the sample cap and its errors.
#include "trainer/eval/explanation_eval.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {
namespace {

constexpr double kTol = 1e-5;

Tokens t(const std::string& text) { return tokenize_words(text); }

// References of three pairs: (0,10) "dark comedy", (1,10) "funny",
// (2,11) "pixar", each its own feature.
ExplanationReferences three_references() {
  ExplanationReferences refs;
  refs.kind = ReferenceKind::kPairText;
  refs.by_pair[{0, 10}] = {"dark comedy", t("dark comedy")};
  refs.by_pair[{1, 10}] = {"funny", t("funny")};
  refs.by_pair[{2, 11}] = {"pixar", t("pixar")};
  for (const auto& [pair, ref] : refs.by_pair) refs.feature_set.insert(ref.feature);
  return refs;
}

// A fake explainer that records its calls.
struct FakeExplainer {
  std::map<std::pair<int64_t, int64_t>, int> calls;

  ExplainFn fn() {
    return [this](int64_t user, int64_t item) {
      ++calls[{user, item}];
      if (item == 10) return Explanation{"A dark comedy.", {user == 0 ? "dark" : "funny"}};
      if (item == 11) return Explanation{"Pixar fun", {}};
      if (item == 20) return Explanation{"item twenty", {"twenty"}};
      if (item == 21) return Explanation{"for user " + std::to_string(user), {}};
      return Explanation{"plain", {}};
    };
  }
};

TEST(EvaluateExplanations, ScoresThePairsWithReferencesAsWorkedOut) {
  FakeExplainer fake;
  const std::vector<UserItem> pairs = {{0, 10}, {1, 10}, {0, 10}, {2, 11}, {3, 12}};
  const ExplanationEvalResult r = evaluate_explanations(pairs, fake.fn(), three_references());
  // (0,10) offered twice counts once; (3,12) has no reference.
  EXPECT_EQ(r.reference_kind, "pair_text");
  EXPECT_EQ(r.pairs_offered, 4);
  EXPECT_EQ(r.pairs_with_reference, 3);
  EXPECT_EQ(r.pairs_scored, 3);
  EXPECT_EQ(r.pairs_with_feature, 3);
  EXPECT_EQ(r.feature_set_size, 3);
  // refs: [dark comedy], [funny], [pixar]; hyps: [a dark comedy] twice, [pixar fun].
  // BLEU-1: matches 2 + 0 + 1 = 3 of 3 + 3 + 2 = 8 tokens; c = 8 > r = 4,
  // BP = 1: 37.5. BLEU-4: no hypothesis has 4 tokens: 0.
  EXPECT_NEAR(r.bleu1, 37.5, 1e-9);
  EXPECT_EQ(r.bleu4, 0.0);
  // ROUGE-1: P/R/F (2/3, 1, 0.8), (0, 0, 0), (1/2, 1, 2/3): mean 48.889.
  // ROUGE-2: {a dark, dark comedy} vs {dark comedy}: F = 2/3; the others
  // have a one-word reference, so 0: mean 22.222.
  // ROUGE-L: LCS 2, P = 2/3, R = 1 -> 26/35; 0; LCS 1, P = 1/2, R = 1, beta = 1/2
  // -> (5/4)(1/2) / (1 + 1/8) = 5/9: mean (26/35 + 5/9) / 3 = 43.280.
  EXPECT_NEAR(r.rouge.rouge1, 48.8888889, kTol);
  EXPECT_NEAR(r.rouge.rouge2, 22.2222222, kTol);
  EXPECT_NEAR(r.rouge.rouge_l, 43.2804233, kTol);
  // FMR: "dark comedy" yes, "funny" no, "pixar" yes: 2/3.
  // FCR: found {dark comedy} twice and {pixar}: 2 of 3 features.
  // DIV: the two item-10 sentences share one feature, the others none: 1/3.
  EXPECT_DOUBLE_EQ(r.fmr, 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.fcr, 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.div, 1.0 / 3);
  // distinct-1: {a, dark, comedy, pixar, fun} of 8 tokens; distinct-2:
  // {a dark, dark comedy, pixar fun} of 2 + 2 + 1 bigrams; USR: 2 of 3.
  EXPECT_DOUBLE_EQ(r.distinct1, 5.0 / 8);
  EXPECT_DOUBLE_EQ(r.distinct2, 3.0 / 5);
  EXPECT_DOUBLE_EQ(r.usr, 2.0 / 3);
  // Aspects: (0,10) lists "dark" and says it; (1,10) lists "funny" and does
  // not; (2,11) lists none: 1 of 2.
  EXPECT_DOUBLE_EQ(r.aspects_in_sentence, 0.5);
  // Personalisation over the offered pairs: only item 10 has two users, and
  // both got the same sentence.
  EXPECT_EQ(r.personalisation.items, 1);
  EXPECT_EQ(r.personalisation.items_differing, 0);
  EXPECT_DOUBLE_EQ(r.personalisation.ratio, 0.0);
  // Each distinct pair explained once; (3,12) not at all (no reference, and
  // item 12 has one user).
  EXPECT_EQ(r.explanations, 3);
  for (const auto& [pair, count] : fake.calls) EXPECT_EQ(count, 1);
  EXPECT_EQ(fake.calls.count({3, 12}), 0u);
}

TEST(EvaluateExplanations, PersonalisationTakesItemsWithMostUsersAndSkipsEqualHistories) {
  FakeExplainer fake;
  ExplanationEvalOptions options;
  // Item 20: users 0..3; item 21: users 0, 1; item 22: user 0 alone.
  options.personalisation_pairs = {{0, 20}, {1, 20}, {2, 20}, {3, 20}, {0, 21}, {1, 21}, {0, 22}};
  options.users_per_item = 3;
  // Users 0 and 2 were shown the same history: 2 does not count again.
  options.history = [](int64_t user) {
    return user == 2 ? std::vector<int64_t>{7} : std::vector<int64_t>{user == 0 ? 7 : user};
  };
  const ExplanationEvalResult r = evaluate_explanations({}, fake.fn(), three_references(), options);
  // Item 20 (users 0, 1, 3): all "item twenty", share 1/3. Item 21 (0, 1):
  // "for user 0" / "for user 1", share 1. 1 of 2 differ; mean share 2/3.
  EXPECT_EQ(r.personalisation.items, 2);
  EXPECT_EQ(r.personalisation.items_differing, 1);
  EXPECT_DOUBLE_EQ(r.personalisation.ratio, 0.5);
  EXPECT_DOUBLE_EQ(r.personalisation.mean_distinct_share, 2.0 / 3);
  EXPECT_EQ(fake.calls.count({2, 20}), 0u);
  EXPECT_EQ(fake.calls.count({0, 22}), 0u);
  EXPECT_EQ(r.explanations, 5);
  // Nothing was scored against references.
  EXPECT_EQ(r.pairs_scored, 0);
  EXPECT_EQ(r.bleu1, 0.0);
  EXPECT_EQ(r.fmr, -1.0);
  EXPECT_EQ(r.fcr, -1.0);
  EXPECT_EQ(r.usr, -1.0);

  // At most one item: the one with the most users.
  options.personalisation_items = 1;
  FakeExplainer one;
  const ExplanationEvalResult s = evaluate_explanations({}, one.fn(), three_references(), options);
  EXPECT_EQ(s.personalisation.items, 1);
  EXPECT_EQ(s.personalisation.items_differing, 0);
  EXPECT_EQ(one.calls.count({0, 21}), 0u);
}

TEST(EvaluateExplanations, CapsTheScoredPairsWithASeededSample) {
  const std::vector<UserItem> pairs = {{0, 10}, {1, 10}, {2, 11}, {3, 12}};
  ExplanationEvalOptions options;
  options.max_pairs = 2;
  options.personalisation_items = 0;
  FakeExplainer a, b;
  const ExplanationEvalResult ra =
      evaluate_explanations(pairs, a.fn(), three_references(), options);
  const ExplanationEvalResult rb =
      evaluate_explanations(pairs, b.fn(), three_references(), options);
  EXPECT_EQ(ra.pairs_with_reference, 3);
  EXPECT_EQ(ra.pairs_scored, 2);
  EXPECT_EQ(ra.explanations, 2);
  EXPECT_EQ(a.calls, b.calls);  // the same seed, the same sample
  EXPECT_EQ(a.calls.count({3, 12}), 0u);
  options.max_pairs = 5;  // more than there are: all of them
  FakeExplainer c;
  EXPECT_EQ(evaluate_explanations(pairs, c.fn(), three_references(), options).pairs_scored, 3);
}

TEST(EvaluateExplanations, NamesThePairTheExplainerFailedOnAndBadOptions) {
  const ExplainFn failing = [](int64_t, int64_t item) -> Explanation {
    if (item == 11) HYBREC_THROW("unknown item ", item);
    return Explanation{"fine", {}};
  };
  try {
    evaluate_explanations({{0, 10}, {2, 11}}, failing, three_references());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("explaining user 2, item 11: unknown item 11"),
              std::string::npos)
        << e.what();
  }
  ExplanationEvalOptions options;
  options.max_pairs = -1;
  EXPECT_THROW(evaluate_explanations({}, failing, three_references(), options), Error);
  options.max_pairs = 0;
  options.users_per_item = 1;
  EXPECT_THROW(evaluate_explanations({}, failing, three_references(), options), Error);
  EXPECT_THROW(evaluate_explanations({}, ExplainFn{}, three_references()), Error);
}

TEST(EvaluateExplanations, ReportsProgressAndAJsonLine) {
  FakeExplainer fake;
  ExplanationEvalOptions options;
  std::vector<std::pair<int64_t, int64_t>> progress;
  options.on_progress = [&](int64_t done, int64_t total) { progress.emplace_back(done, total); };
  const ExplanationEvalResult r =
      evaluate_explanations({{0, 10}, {2, 11}}, fake.fn(), three_references(), options);
  EXPECT_EQ(progress, (std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {2, 2}}));
  const nlohmann::json line = explanation_event(r);
  EXPECT_EQ(line["event"], "eval_explanations");
  EXPECT_EQ(line["references"], "pair_text");
  EXPECT_EQ(line["pairs_scored"], 2);
  EXPECT_DOUBLE_EQ(line["fmr"].get<double>(), 1.0);
  EXPECT_NE(format_explanation_result(r).find("2 pairs scored"), std::string::npos);
}

}  // namespace
}  // namespace hybrec::trainer
