// Feature, diversity and personalisation metrics on hand-made sentences,
// the expected values worked out in the comments.
#include "trainer/eval/explanation_metrics.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {
namespace {

Tokens t(const std::string& text) { return tokenize_words(text); }

TEST(ContainsFeature, MatchesAContiguousRunOnly) {
  EXPECT_TRUE(contains_feature(t("a dark comedy indeed"), t("dark comedy")));
  EXPECT_FALSE(contains_feature(t("dark and comedy"), t("dark comedy")));
  EXPECT_TRUE(contains_feature(t("Sci-Fi at its best"), t("sci-fi")));
  EXPECT_FALSE(contains_feature(t("anything"), Tokens{}));
  EXPECT_FALSE(contains_feature(Tokens{}, t("x")));
}

TEST(DetectFeatures, FindsEveryFeatureOfTheSetInTheSentence) {
  const std::set<Tokens> features = {t("funny"), t("dark comedy"), t("comedy"), t("pixar")};
  EXPECT_EQ(detect_features(t("a funny dark comedy"), features),
            (std::set<Tokens>{t("funny"), t("dark comedy"), t("comedy")}));
  EXPECT_TRUE(detect_features(t("nothing here"), features).empty());
  EXPECT_TRUE(detect_features(t("funny"), {}).empty());
}

TEST(FeatureMatchingRatio, CountsPairsWithAFeatureOnly) {
  // Given "funny" (found), "dark comedy" (the sentence has only "dark"), and
  // no feature (left out): 1 of 2.
  EXPECT_DOUBLE_EQ(feature_matching_ratio({t("it is funny"), t("so dark"), t("x")},
                                          {t("funny"), t("dark comedy"), Tokens{}}),
                   0.5);
  // No pair has a feature: undefined.
  EXPECT_EQ(feature_matching_ratio({t("x")}, {Tokens{}}), -1.0);
  EXPECT_EQ(feature_matching_ratio({}, {}), -1.0);
  EXPECT_THROW(feature_matching_ratio({t("x")}, {}), Error);
}

TEST(FeatureCoverageRatio, DividesDistinctFoundFeaturesByTheWholeSet) {
  // Found: {funny}, {funny, dark comedy}, {} -> 2 distinct of 4.
  const std::set<Tokens> features = {t("funny"), t("dark comedy"), t("comedy"), t("pixar")};
  EXPECT_DOUBLE_EQ(
      feature_coverage_ratio({{t("funny")}, {t("funny"), t("dark comedy")}, {}}, features), 0.5);
  EXPECT_EQ(feature_coverage_ratio({{t("funny")}}, {}), -1.0);
}

TEST(FeatureDiversity, IsTheMeanOverlapOfPairs) {
  // {a, b}, {a}, {b, c}: pairs (1,2) share a, (1,3) share b, (2,3) none:
  // (1 + 1 + 0) / 3 = 2/3.
  EXPECT_DOUBLE_EQ(feature_diversity({{t("a"), t("b")}, {t("a")}, {t("b"), t("c")}}), 2.0 / 3);
  EXPECT_EQ(feature_diversity({{t("a")}}), -1.0);
  EXPECT_EQ(feature_diversity({}), -1.0);
}

TEST(DistinctNgrams, DividesDistinctByAllNgramsOverTheCorpus) {
  // "a b a", "a b": unigrams 5, distinct {a, b} -> 2/5; bigrams
  // (a b), (b a), (a b) -> 3, distinct 2 -> 2/3.
  const std::vector<Tokens> sentences = {t("a b a"), t("a b")};
  EXPECT_DOUBLE_EQ(distinct_ngrams(sentences, 1), 0.4);
  EXPECT_DOUBLE_EQ(distinct_ngrams(sentences, 2), 2.0 / 3);
  // One-token sentences have no bigram; empty ones nothing at all.
  EXPECT_EQ(distinct_ngrams({t("a"), t("b")}, 2), -1.0);
  EXPECT_EQ(distinct_ngrams({Tokens{}}, 1), -1.0);
  EXPECT_THROW(distinct_ngrams(sentences, 0), Error);
}

TEST(UniqueSentenceRatio, ComparesTokenSequences) {
  // "A b." and "a b" are one sentence; with "c" and "": 3 distinct of 4.
  EXPECT_DOUBLE_EQ(unique_sentence_ratio({t("A b."), t("a b"), t("c"), t("")}), 0.75);
  EXPECT_EQ(unique_sentence_ratio({}), -1.0);
}

TEST(Personalisation, CountsItemsWhoseExplanationsDifferAcrossUsers) {
  // Item 1: three users, one sentence (share 1/3). Item 2: two users, two
  // sentences (share 1). Item 3: one user, not an item of the check.
  // 1 of 2 items differ; mean share (1/3 + 1) / 2 = 2/3.
  const PersonalisationScore s =
      personalisation({{t("x"), t("x"), t("X!")}, {t("x"), t("y")}, {t("z")}});
  EXPECT_EQ(s.items, 2);
  EXPECT_EQ(s.items_differing, 1);
  EXPECT_DOUBLE_EQ(s.ratio, 0.5);
  EXPECT_DOUBLE_EQ(s.mean_distinct_share, 2.0 / 3);
  const PersonalisationScore none = personalisation({{t("z")}});
  EXPECT_EQ(none.items, 0);
  EXPECT_EQ(none.ratio, -1.0);
}

}  // namespace
}  // namespace hybrec::trainer
