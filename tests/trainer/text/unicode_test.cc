// The generated Unicode tables (scripts/gen_unicode_tables.py) on code
// points whose properties are known by hand.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "trainer/text/unicode_tables.h"

namespace uc = hybrec::text::unicode;

namespace {

std::vector<char32_t> decomposition(char32_t c) {
  const char32_t* d = nullptr;
  size_t n = uc::canonical_decomposition(c, &d);
  return n ? std::vector<char32_t>(d, d + n) : std::vector<char32_t>{};
}

std::vector<char32_t> lower(char32_t c) {
  char32_t out[uc::kMaxLowerLength];
  size_t n = uc::to_lower(c, out);
  return std::vector<char32_t>(out, out + n);
}

}  // namespace

TEST(UnicodeTables, Version) { EXPECT_FALSE(std::string(uc::kUnicodeVersion).empty()); }

TEST(UnicodeTables, Whitespace) {
  for (char32_t c : {U' ', U'\t', U'\n', U'\r', char32_t{0xA0}, char32_t{0x1680}, char32_t{0x2003},
                     char32_t{0x2028}, char32_t{0x202F}, char32_t{0x3000}}) {
    EXPECT_TRUE(uc::properties(c) & uc::kWhitespace) << std::hex << uint32_t(c);
    EXPECT_FALSE(uc::properties(c) & uc::kControl) << std::hex << uint32_t(c);
  }
  EXPECT_FALSE(uc::properties(U'a') & uc::kWhitespace);
  EXPECT_FALSE(uc::properties(0x200B) & uc::kWhitespace);  // zero-width space is Cf
}

TEST(UnicodeTables, Control) {
  for (char32_t c : {char32_t{0}, char32_t{1}, char32_t{0x0B}, char32_t{0x1F}, char32_t{0x7F},
                     char32_t{0x85}, char32_t{0x200B}, char32_t{0x200D}, char32_t{0xFEFF},
                     char32_t{0xE000}, char32_t{0x10FFFD}}) {
    EXPECT_TRUE(uc::properties(c) & uc::kControl) << std::hex << uint32_t(c);
  }
  for (char32_t c : {U'\t', U'\n', U'\r', U' ', U'a', char32_t{0x378} /* unassigned */}) {
    EXPECT_FALSE(uc::properties(c) & uc::kControl) << std::hex << uint32_t(c);
  }
}

TEST(UnicodeTables, Punctuation) {
  // BERT's ASCII symbols, including the non-P* ones ($ + < = > ^ ` | ~).
  for (char32_t c : {U'!', U'/', U':', U'@', U'[', U'`', U'{', U'~', U'$', U'+', U'^', U'|'}) {
    EXPECT_TRUE(uc::properties(c) & uc::kPunctuation) << char(c);
  }
  for (char32_t c : {char32_t{0xBF}, char32_t{0x2014}, char32_t{0x3002}, char32_t{0xFF08},
                     char32_t{0x2E42}}) {
    EXPECT_TRUE(uc::properties(c) & uc::kPunctuation) << std::hex << uint32_t(c);
  }
  for (char32_t c : {U'a', U'0', U' ', char32_t{0xA9} /* So */, char32_t{0x20AC} /* Sc */,
                     char32_t{0x2E43} /* Po, but newer than Unicode 8.0 */}) {
    EXPECT_FALSE(uc::properties(c) & uc::kPunctuation) << std::hex << uint32_t(c);
  }
}

TEST(UnicodeTables, Cjk) {
  for (char32_t c : {char32_t{0x4E00}, char32_t{0x4E2D}, char32_t{0x9FFF}, char32_t{0x3400},
                     char32_t{0x20000}, char32_t{0xF900}, char32_t{0x2F800}}) {
    EXPECT_TRUE(uc::properties(c) & uc::kCjk) << std::hex << uint32_t(c);
  }
  for (char32_t c : {char32_t{0x3042} /* hiragana */, char32_t{0xAC00} /* hangul */, U'a',
                     char32_t{0x3000}}) {
    EXPECT_FALSE(uc::properties(c) & uc::kCjk) << std::hex << uint32_t(c);
  }
}

TEST(UnicodeTables, NonspacingMarks) {
  for (char32_t c : {char32_t{0x300}, char32_t{0x301}, char32_t{0x308}, char32_t{0x323},
                     char32_t{0x5B4}, char32_t{0x3099}}) {
    EXPECT_TRUE(uc::properties(c) & uc::kNonspacingMark) << std::hex << uint32_t(c);
  }
  EXPECT_FALSE(uc::properties(U'e') & uc::kNonspacingMark);
  EXPECT_FALSE(uc::properties(0x903) & uc::kNonspacingMark);  // Mc
}

TEST(UnicodeTables, CombiningClass) {
  EXPECT_EQ(uc::combining_class(U'a'), 0);
  EXPECT_EQ(uc::combining_class(0x301), 230);
  EXPECT_EQ(uc::combining_class(0x316), 220);
  EXPECT_EQ(uc::combining_class(0x327), 202);
  EXPECT_EQ(uc::combining_class(0x10FFFF), 0);
}

TEST(UnicodeTables, Decomposition) {
  EXPECT_EQ(decomposition(0xE9), (std::vector<char32_t>{U'e', 0x301}));     // é
  EXPECT_EQ(decomposition(0xC5), (std::vector<char32_t>{U'A', 0x30A}));     // Å
  EXPECT_EQ(decomposition(0x1E69), (std::vector<char32_t>{U's', 0x323, 0x307}));  // full
  EXPECT_EQ(decomposition(0x212B), (std::vector<char32_t>{U'A', 0x30A}));   // Angstrom sign
  EXPECT_TRUE(decomposition(U'a').empty());
  EXPECT_TRUE(decomposition(0xDF).empty());    // ß has none
  EXPECT_TRUE(decomposition(0xFB01).empty());  // ﬁ: compatibility only
  EXPECT_TRUE(decomposition(0xAC00).empty());  // Hangul: algorithmic
}

TEST(UnicodeTables, Lower) {
  EXPECT_EQ(lower(U'A'), std::vector<char32_t>{U'a'});
  EXPECT_EQ(lower(U'a'), std::vector<char32_t>{U'a'});
  EXPECT_EQ(lower(0xC9), std::vector<char32_t>{0xE9});          // É
  EXPECT_EQ(lower(0x3A3), std::vector<char32_t>{0x3C3});        // Σ -> σ
  EXPECT_EQ(lower(0x410), std::vector<char32_t>{0x430});        // А
  EXPECT_EQ(lower(0x100), std::vector<char32_t>{0x101});        // Ā (stride-2 run)
  EXPECT_EQ(lower(0x101), std::vector<char32_t>{0x101});
  EXPECT_EQ(lower(0x212A), std::vector<char32_t>{U'k'});        // Kelvin sign
  EXPECT_EQ(lower(0x10400), std::vector<char32_t>{0x10428});    // Deseret
  EXPECT_EQ(lower(0x130), (std::vector<char32_t>{U'i', 0x307}));  // İ: two code points
  EXPECT_EQ(lower(0xDF), std::vector<char32_t>{0xDF});
}
