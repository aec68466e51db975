// The explanation prompt: titles out of item texts, cleaning (invalid UTF-8
// replaced with U+FFFD, control characters removed), the messages' content,
// and the first sentence of what the model wrote.
#include "trainer/explain/prompt.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "trainer/text/bpe_tokenizer.h"

namespace hybrec::explain {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

TEST(ItemTitle, IsTheFirstFieldOfTheImportersLayouts) {
  EXPECT_EQ(item_title("Heat (1995) | Action|Crime|Thriller | heist"), "Heat (1995)");
  EXPECT_EQ(item_title("Star Wars: Episode IV (1977) | Action"), "Star Wars: Episode IV (1977)");
  EXPECT_EQ(item_title("Zorblin: alpha beta gamma"), "Zorblin");
  EXPECT_EQ(item_title("  HP 78 Tri-Color Printer Cartridge  "),
            "HP 78 Tri-Color Printer Cartridge");
  EXPECT_EQ(item_title(""), "");
}

TEST(ItemDetails, AreWhatFollowsTheTitle) {
  EXPECT_EQ(item_details("Heat (1995) | Action|Crime | heist", 200), "Action|Crime | heist");
  EXPECT_EQ(item_details("Zorblin: alpha beta gamma", 200), "alpha beta gamma");
  EXPECT_EQ(item_details("HP 78 Tri-Color Printer Cartridge", 200), "");
  EXPECT_EQ(item_details("Heat (1995) | ", 200), "");
}

TEST(ItemTitle, ALongTitleIsCutAtAWordWithAMark) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += "longword ";
  const std::string t = item_title(text, 40);
  // 40 - 3 = 37 code points of room; the last space at or before index 37
  // is at 35, after 4 words: 4 words and the mark.
  EXPECT_EQ(t, "longword longword longword longword...");
}

TEST(CleanText, ReplacesInvalidUtf8AndDropsControlCharacters) {
  // Latin-1 e-acute (0xE9) is not UTF-8; 0x01 and the tab become spaces,
  // and runs of spaces one.
  EXPECT_EQ(clean_text("Am\xE9lie\x01\t (2001)\n", 80), "Am" + kFffd + "lie (2001)");
  EXPECT_EQ(clean_text("\xFF\xFE", 80), kFffd + kFffd);
  // A cut counts code points, never splitting one.
  EXPECT_EQ(clean_text("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 5),
            "\xC3\xA9\xC3\xA9...");
}

PromptInput example() {
  PromptInput in;
  in.recent_titles = {"Deep Ocean", "Harbor Lights"};
  in.item_title = "Moonlight Harbor";
  in.item_text = "Moonlight Harbor: quiet ocean mystery";
  in.aspects = {"ocean", "mystery"};
  return in;
}

TEST(ExplanationMessages, ListTheHistoryTheItemAndTheAspects) {
  const std::vector<text::ChatMessage> m = explanation_messages(example());
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].role, "system");
  EXPECT_EQ(m[1].role, "user");
  const std::string& u = m[1].content;
  EXPECT_NE(u.find("(most recent first):\n- Deep Ocean\n- Harbor Lights\n"), std::string::npos)
      << u;
  EXPECT_NE(u.find("Recommended: Moonlight Harbor\n"), std::string::npos) << u;
  EXPECT_NE(u.find("About it: quiet ocean mystery\n"), std::string::npos) << u;
  EXPECT_NE(u.find("Shared themes: ocean, mystery\n"), std::string::npos) << u;
  EXPECT_NE(u.find("In one sentence"), std::string::npos) << u;
  EXPECT_EQ(u.find("no history"), std::string::npos) << u;
}

TEST(ExplanationMessages, SayWhenTheUserHasNoHistory) {
  PromptInput in = example();
  in.no_history = true;
  in.recent_titles.clear();
  in.aspects.clear();
  const std::string u = explanation_messages(in)[1].content;
  EXPECT_NE(u.find("The user has no history yet."), std::string::npos) << u;
  EXPECT_NE(u.find("Shared themes: none\n"), std::string::npos) << u;
  EXPECT_EQ(u.find("- "), std::string::npos) << u;
  EXPECT_EQ(u.find("mentioning"), std::string::npos) << u;
}

TEST(ExplanationMessages, DamagedBytesAreReplacedNotPassedOn) {
  PromptInput in = example();
  in.recent_titles = {"Caf\xE9 Society", "\xFF\xFE"};
  in.item_title = "Am\xE9lie";
  in.item_text = "Am\xE9lie | Comedy\x01|Romance";
  in.aspects = {"caf\xC3"};
  for (const text::ChatMessage& m : explanation_messages(in)) {
    EXPECT_EQ(text::valid_utf8(m.content), m.content);
    EXPECT_EQ(m.content.find('\x01'), std::string::npos);
  }
  const std::string u = explanation_messages(in)[1].content;
  EXPECT_NE(u.find("- Caf" + kFffd + " Society\n"), std::string::npos) << u;
  EXPECT_NE(u.find("Recommended: Am" + kFffd + "lie\n"), std::string::npos) << u;
  EXPECT_NE(u.find("Shared themes: caf" + kFffd + "\n"), std::string::npos) << u;
}

TEST(ResponseStart, NamesTheItem) {
  PromptInput in = example();
  in.item_title = "Am\xE9lie\n";
  EXPECT_EQ(response_start(in), "You may like Am" + kFffd + "lie because");
}

TEST(FirstSentence, EndsAtTheFirstStopFollowedBySpace) {
  EXPECT_EQ(first_sentence("  You may like it for its ocean mystery. It is also short."),
            "You may like it for its ocean mystery.");
  EXPECT_EQ(first_sentence("Version 2.5 is great! Really"), "Version 2.5 is great!");
  EXPECT_EQ(first_sentence("Is it for you?"), "Is it for you?");
  EXPECT_EQ(first_sentence("\n\nNo stop here  \nsecond line."), "No stop here");
  EXPECT_EQ(first_sentence(" \n "), "");
}

}  // namespace
}  // namespace hybrec::explain
