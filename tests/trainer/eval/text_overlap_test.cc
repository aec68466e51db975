// Tokenisation, BLEU and ROUGE on examples worked out by hand in the
// comments (PETER's definitions: text_overlap.h).
#include "trainer/eval/text_overlap.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {
namespace {

// The ROUGE epsilons (1e-8, 1e-12) move scores x100 by well under 1e-5.
constexpr double kTol = 1e-5;

Tokens t(const std::string& text) { return tokenize_words(text); }

TEST(TokenizeWords, LowercasesAsciiAndSplitsOnEverythingElse) {
  EXPECT_EQ(t("Don't miss it!"), (Tokens{"don", "t", "miss", "it"}));
  EXPECT_EQ(t("  Sci-Fi,2001--FUN "), (Tokens{"sci", "fi", "2001", "fun"}));
  // Bytes >= 0x80 are word bytes: a UTF-8 word stays whole (not lower-cased).
  EXPECT_EQ(t("Am\xC3\xA9lie"), (Tokens{"am\xC3\xA9lie"}));
  EXPECT_EQ(t(""), Tokens{});
  EXPECT_EQ(t("!!! ..."), Tokens{});
}

TEST(CorpusBleu, IdenticalTextScoresOneHundred) {
  const std::vector<Tokens> refs = {t("the cat is on the mat")};
  EXPECT_NEAR(corpus_bleu(refs, refs, 1), 100.0, 1e-9);
  EXPECT_NEAR(corpus_bleu(refs, refs, 4), 100.0, 1e-9);
}

TEST(CorpusBleu, ClipsCountsAndPenalisesBrevity) {
  // ref "the cat is on the mat" (6), hyp "the the the cat" (4).
  // p1: the x3 clipped to the ref's 2, cat 1 -> 3 / 4. c = 4 < r = 6:
  // BP = exp(1 - 6/4) = exp(-0.5) = 0.6065307. BLEU-1 = 100 * 0.6065307 * 0.75
  // = 45.48980. p3: neither "the the the" nor "the the cat" is in the ref
  // -> 0, so BLEU-4 = 0.
  const std::vector<Tokens> refs = {t("the cat is on the mat")};
  const std::vector<Tokens> hyps = {t("the the the cat")};
  EXPECT_NEAR(corpus_bleu(refs, hyps, 1), 45.48979948, 1e-6);
  EXPECT_EQ(corpus_bleu(refs, hyps, 4), 0.0);
  // A longer hypothesis has no penalty: ref "the cat", hyp "the the the":
  // p1 = 1/3 (one "the" clipped), c = 3 > r = 2 -> BLEU-1 = 33.333.
  EXPECT_NEAR(corpus_bleu({t("the cat")}, {t("the the the")}, 1), 100.0 / 3, 1e-9);
}

TEST(CorpusBleu, IsCorpusLevelAndAHypothesisShorterThanFourAddsNoFourGram) {
  // A: ref "a b c d e", hyp the same (5 tokens). B: ref "x y z", hyp "x w".
  // p1 = (5 + 1) / (5 + 2) = 6/7; p2 = (4 + 0) / (4 + 1) = 4/5;
  // p3 = 3/3 and p4 = 2/2 (B has no 3- or 4-gram: it adds to neither count).
  // c = 7 < r = 8: BP = exp(1 - 8/7) = 0.8668779.
  // BLEU-4 = 100 * 0.8668779 * (6/7 * 4/5)^(1/4) = 100 * 0.8668779 * 0.9099854
  //        = 78.88487.
  // BLEU-1 = 100 * 0.8668779 * 6/7 = 74.30382.
  const std::vector<Tokens> refs = {t("a b c d e"), t("x y z")};
  const std::vector<Tokens> hyps = {t("a b c d e"), t("x w")};
  EXPECT_NEAR(corpus_bleu(refs, hyps, 4), 78.88487297, 1e-6);
  EXPECT_NEAR(corpus_bleu(refs, hyps, 1), 100 * std::exp(1 - 8.0 / 7) * 6 / 7, 1e-9);
  // Every hypothesis shorter than 4: no 4-gram at all, p4 = 0, BLEU-4 = 0,
  // while BLEU-1 = 100 * (x y z vs x w: 1 match of 2) * exp(1 - 3/2).
  EXPECT_EQ(corpus_bleu({t("x y z")}, {t("x w")}, 4), 0.0);
  EXPECT_NEAR(corpus_bleu({t("x y z")}, {t("x w")}, 1), 100 * 0.5 * std::exp(-0.5), 1e-9);
}

TEST(CorpusBleu, EmptyHypothesesAndReferences) {
  // An empty hypothesis adds only to r: A perfect (5 of 5) and C = ref
  // "p q r", hyp "": c = 5, r = 8, BP = exp(1 - 8/5) = exp(-0.6) = 0.5488116;
  // every p_n is 1 -> 54.88116.
  EXPECT_NEAR(corpus_bleu({t("a b c d e"), t("p q r")}, {t("a b c d e"), Tokens{}}, 4), 54.88116361,
              1e-6);
  // Nothing generated at all: 0, not a division by zero.
  EXPECT_EQ(corpus_bleu({t("p q r")}, {Tokens{}}, 1), 0.0);
  EXPECT_EQ(corpus_bleu({}, {}, 4), 0.0);
  // An empty reference matches nothing.
  EXPECT_EQ(corpus_bleu({Tokens{}}, {t("a b")}, 1), 0.0);
}

TEST(CorpusBleu, RejectsMismatchedListsAndOrderBelowOne) {
  EXPECT_THROW(corpus_bleu({t("a")}, {}, 1), Error);
  EXPECT_THROW(corpus_bleu({t("a")}, {t("a")}, 0), Error);
}

TEST(MeanRouge, UsesNgramSetsAndPeterLcsF) {
  // Pair 1: ref "the cat was here today" (5), hyp "the cat sat" (3).
  //   sets share {the, cat}: P = 2/3, R = 2/5, F = 2PR/(P+R) = 0.5.
  //   share {the cat}: P = 1/2, R = 1/4, F = 1/3.
  //   R-L: LCS 2, P = 2/3, R = 2/5, beta = P/R = 5/3:
  //        F = (1 + 25/9)(2/5)(2/3) / (2/5 + (25/9)(2/3)) = 17/38 = 0.4473684.
  // Pair 2: ref "the cat", hyp "the the cat".
  //   hyp set {the, cat}: P = R = 1, F = 1 (counts would give P = 2/3).
  //   {the the, the cat} vs {the cat}: P = 1/2, R = 1, F = 2/3.
  //   R-L: LCS 2, P = 2/3, R = 1, beta = 2/3:
  //        F = (13/9)(2/3) / (1 + (4/9)(2/3)) = 26/35 = 0.7428571.
  // Means x100: R-1 (0.5 + 1)/2 = 75, R-2 (1/3 + 2/3)/2 = 50,
  // R-L (17/38 + 26/35)/2 = 59.51128.
  const RougeScores r =
      mean_rouge({t("the cat was here today"), t("the cat")}, {t("the cat sat"), t("the the cat")});
  EXPECT_NEAR(r.rouge1, 75.0, kTol);
  EXPECT_NEAR(r.rouge2, 50.0, kTol);
  EXPECT_NEAR(r.rouge_l, 59.51127820, kTol);
}

TEST(MeanRouge, EmptyHypothesisScoresZeroAndCountsInTheMean) {
  // Pair 1 as above (R-1 50, R-2 33.33, R-L 44.74) and a pair with an empty
  // hypothesis (0, 0, 0): the means halve.
  const RougeScores r =
      mean_rouge({t("the cat was here today"), t("a b")}, {t("the cat sat"), Tokens{}});
  EXPECT_NEAR(r.rouge1, 25.0, kTol);
  EXPECT_NEAR(r.rouge2, 100.0 / 6, kTol);
  EXPECT_NEAR(r.rouge_l, 50.0 * 17 / 38, kTol);
  // A one-token hypothesis has no bigram: R-2 is 0 where R-1 is not.
  const RougeScores one = mean_rouge({t("pixar")}, {t("pixar")});
  EXPECT_NEAR(one.rouge1, 100.0, kTol);
  EXPECT_EQ(one.rouge2, 0.0);
  EXPECT_NEAR(one.rouge_l, 100.0, kTol);
  const RougeScores none = mean_rouge({}, {});
  EXPECT_EQ(none.rouge1, 0.0);
  EXPECT_THROW(mean_rouge({t("a")}, {}), Error);
}

}  // namespace
}  // namespace hybrec::trainer
