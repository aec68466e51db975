// Aspect words on hand-made texts and weights; every expected order below is
// worked out by hand in the comments.
#include "trainer/explain/aspects.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "testing/gguf_bytes.h"

namespace hybrec::explain {
namespace {

std::vector<std::string> words_of(const std::vector<Aspect>& aspects) {
  std::vector<std::string> out;
  for (const Aspect& a : aspects) out.push_back(a.word);
  return out;
}

TEST(TextWords, LowercasedLetterRunsWithoutStopwordsShortWordsOrNumbers) {
  // "don" is a stopword (of "don't"), "t", "an", "ox", "c", "dn" are short,
  // 1995 and the digits of c6578dn are no letters; STOP appears twice.
  EXPECT_EQ(text_words("Don't STOP: 1995 c6578dn Caf\xC3\xA9 \xC3\x89"
                       "COLE an ox, stop!"),
            (std::vector<std::string>{"stop", "caf\xC3\xA9",
                                      "\xC3\xA9"
                                      "cole"}));
  EXPECT_TRUE(text_words("").empty());
  EXPECT_TRUE(text_words("the and with 42 a b").empty());
}

TEST(TextWords, AHyphenBetweenLettersJoinsThem) {
  // "a-b" has 2 letters; a hyphen at an edge or before a digit separates.
  EXPECT_EQ(text_words("Sci-Fi action-packed a-b -intro outro- tri-7"),
            (std::vector<std::string>{"sci-fi", "action-packed", "intro", "outro", "tri"}));
}

TEST(TextWords, InvalidUtf8BecomesAReplacementThatSeparatesWords) {
  // 0xE9 alone (Latin-1 e-acute) and 0xFF are not UTF-8: each becomes
  // U+FFFD, which is not a letter.
  EXPECT_EQ(text_words("Caf\xE9 bar\xFF"
                       "baz \xC3"),
            (std::vector<std::string>{"caf", "bar", "baz"}));
}

// Item words in order: moonlight, harbor, quiet, ocean, mystery, detectives,
// storms ("with", "and" are stopwords).
const std::string kItem = "Moonlight Harbor: quiet ocean mystery with detectives and ocean storms";
const std::vector<std::string> kHistory = {
    "Deep Ocean: ocean storms and whales",   // ocean, storms
    "Harbor Lights: a quiet mystery",        // harbor, quiet, mystery
    "The Detectives: mystery in the city"};  // mystery, detectives

TEST(AspectWords, ScoresSumTheWeightsOfTheHistoryEntriesHoldingAWord) {
  // Weights 0.5, 0.25, 0.25 (exact in binary, so the ties are exact):
  // ocean 0.5, storms 0.5, mystery 0.25 + 0.25 = 0.5, harbor 0.25, quiet
  // 0.25, detectives 0.25; moonlight is in no history text. Ties keep the
  // item's order: ocean, mystery, storms, then harbor, quiet, detectives.
  const std::vector<float> weights = {0.5f, 0.25f, 0.25f};
  const std::vector<Aspect> all = aspect_words(kItem, kHistory, weights, 10);
  EXPECT_EQ(words_of(all), (std::vector<std::string>{"ocean", "mystery", "storms", "harbor",
                                                     "quiet", "detectives"}));
  EXPECT_EQ(all[0].score, 0.5);
  EXPECT_EQ(all[1].score, 0.5);
  EXPECT_EQ(all[3].score, 0.25);
  EXPECT_EQ(all[5].score, 0.25);
  EXPECT_EQ(words_of(aspect_words(kItem, kHistory, weights, 3)),
            (std::vector<std::string>{"ocean", "mystery", "storms"}));
}

TEST(AspectWords, TheAttentionDecidesTheOrder) {
  // Weights 0.1, 0.3, 0.6: detectives 0.6, mystery 0.9, harbor 0.3, quiet
  // 0.3, ocean 0.1, storms 0.1.
  EXPECT_EQ(words_of(aspect_words(kItem, kHistory, {0.1f, 0.3f, 0.6f}, 4)),
            (std::vector<std::string>{"mystery", "detectives", "harbor", "quiet"}));
}

TEST(AspectWords, AnEntryCountsOncePerWordAndARepeatedItemTwice) {
  // "ocean" twice in the first text still adds 0.2 once; the second entry
  // is the same item again and adds its own 0.2. quiet: 0.6.
  const std::vector<std::string> history = {"ocean ocean", "ocean", "quiet"};
  const std::vector<Aspect> a = aspect_words(kItem, history, {0.2f, 0.2f, 0.6f}, 3);
  EXPECT_EQ(words_of(a), (std::vector<std::string>{"quiet", "ocean"}));
  EXPECT_NEAR(a[1].score, 0.4, 1e-6);
}

TEST(AspectWords, NoHistoryOrNothingSharedGivesNoAspects) {
  EXPECT_TRUE(aspect_words(kItem, {}, {}, 3).empty());
  EXPECT_TRUE(aspect_words(kItem, {"zebra crossing"}, {1.0f}, 3).empty());
  EXPECT_TRUE(aspect_words(kItem, kHistory, {0.5f, 0.25f, 0.25f}, 0).empty());
}

TEST(AspectWords, MismatchedWeightsAreAnError) {
  EXPECT_NE(hybrec::testing::error_of([] {
              aspect_words(kItem, kHistory, {1.0f}, 3);
            }).find("3 history texts but 1 weights"),
            std::string::npos);
}

}  // namespace
}  // namespace hybrec::explain
