// The WordPiece tokenizer on a small vocabulary written here; every expected
// id is worked out by hand from BertNormalizer / BertPreTokenizer / WordPiece.
#include "trainer/text/wordpiece.h"

#include <gtest/gtest.h>

#include <random>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

using hybrec::text::TokenizerOptions;
using hybrec::text::WordPieceTokenizer;
using Ids = std::vector<int32_t>;
using Pieces = std::vector<std::string>;

const std::vector<std::string>& test_vocab() {
  static const std::vector<std::string> v = {
      "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",      // 0-4
      "hello", "world", "un",    "##aff", "##able",      // 5-9
      ",",     "!",     "(",     ")",     "中",          // 10-14
      "国",    "cafe",  "a",     "##a",   "##world",     // 15-19
      "αβγ",   "привет", "1995", "toy",  "story",        // 20-24
      "Héllo", "##x",   "'",     "s",     "##h",         // 25-29
  };
  return v;
}

const WordPieceTokenizer& tok() {
  static const WordPieceTokenizer t(test_vocab(), TokenizerOptions{});
  return t;
}

// The pieces' ids, without [CLS]/[SEP].
Ids pieces(const std::string& text) {
  Ids ids = tok().encode(text, 1 << 20);
  return Ids(ids.begin() + 1, ids.end() - 1);
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("hybrec_wordpiece_" + std::to_string(::getpid()) + "_" + name)).string();
}


// Arbitrary bytes (random, biased towards multi-byte UTF-8 lead bytes and
// ASCII punctuation) never crash the tokenizer (run under the sanitizers)
// and always give [CLS] ids [SEP] within max_length, every id in range.
TEST(WordPiece, ArbitraryBytesGiveWellFormedIds) {
  std::mt19937 rng(20261128);
  const unsigned char alphabet[] = {'a', 'b', 'e', ' ', '.', '#', '\t', 0x00, 0x7f, 0xc3,
                                    0xa9, 0xe4, 0xb8, 0xad, 0xf0, 0x9f, 0x98, 0x80, 0xed, 0xff};
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text(rng() % 64, '\0');
    for (auto& c : text) {
      c = static_cast<char>(rng() % 3 == 0 ? rng() % 256
                                           : alphabet[rng() % sizeof alphabet]);
    }
    const int64_t max_length = 2 + static_cast<int64_t>(rng() % 12);
    const Ids ids = tok().encode(text, max_length);
    ASSERT_GE(ids.size(), 2u);
    ASSERT_LE(static_cast<int64_t>(ids.size()), max_length);
    EXPECT_EQ(ids.front(), tok().cls_id());
    EXPECT_EQ(ids.back(), tok().sep_id());
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok().vocab_size()) << id;
  }
}

}  // namespace

TEST(WordPiece, SpecialIds) {
  EXPECT_EQ(tok().pad_id(), 0);
  EXPECT_EQ(tok().unk_id(), 1);
  EXPECT_EQ(tok().cls_id(), 2);
  EXPECT_EQ(tok().sep_id(), 3);
  EXPECT_EQ(tok().vocab_size(), 30);
  EXPECT_EQ(tok().id_of("##aff"), 8);
  EXPECT_EQ(tok().id_of("nope"), -1);
  EXPECT_EQ(tok().token_of(5), "hello");
  EXPECT_THROW(tok().token_of(30), std::out_of_range);
}

TEST(WordPiece, LowerCaseAndAccents) {
  EXPECT_EQ(pieces("Héllo WORLD"), (Ids{5, 6}));
  EXPECT_EQ(pieces("CAFÉ"), (Ids{16}));
  EXPECT_EQ(pieces("cafe\xCC\x81"), (Ids{16}));  // e + combining acute, already decomposed
  EXPECT_EQ(pieces("ΑΒΓ"), (Ids{20}));           // Greek capitals
  EXPECT_EQ(pieces("ПРИВЕТ"), (Ids{21}));        // Cyrillic capitals
  EXPECT_EQ(tok().tokenize("Héllo"), (Pieces{"hello"}));
}

TEST(WordPiece, CaseAndAccentsKeptWhenDisabled) {
  TokenizerOptions o;
  o.lower_case = false;
  o.strip_accents = false;
  WordPieceTokenizer t(test_vocab(), o);
  EXPECT_EQ(t.tokenize("Héllo hello HELLO"), (Pieces{"Héllo", "hello", "[UNK]"}));
}

TEST(WordPiece, PunctuationSplits) {
  EXPECT_EQ(pieces("hello,world!"), (Ids{5, 10, 6, 11}));
  EXPECT_EQ(pieces("Toy Story (1995)"), (Ids{23, 24, 12, 22, 13}));
  EXPECT_EQ(pieces("a's"), (Ids{17, 27, 28}));
  // '$' (ASCII, BERT punctuation though Sc) and an em dash (Pd) split too;
  // neither is in the vocabulary.
  EXPECT_EQ(pieces("hello$world"), (Ids{5, 1, 6}));
  EXPECT_EQ(pieces("hello\xE2\x80\x94world"), (Ids{5, 1, 6}));
  EXPECT_EQ(pieces("!!"), (Ids{11, 11}));
}

TEST(WordPiece, ChineseCharactersAreTokens) {
  EXPECT_EQ(pieces("中国"), (Ids{14, 15}));
  EXPECT_EQ(pieces("hello中国world"), (Ids{5, 14, 15, 6}));
}

TEST(WordPiece, ControlCharactersRemoved) {
  EXPECT_EQ(pieces("hel\x01lo"), (Ids{5}));
  EXPECT_EQ(pieces(std::string("hel\0lo", 6)), (Ids{5}));
  EXPECT_EQ(pieces("hello\x7f"), (Ids{5}));
  // Zero-width space (Cf) is dropped, joining the words: hello ##world.
  EXPECT_EQ(pieces("hello\xE2\x80\x8Bworld"), (Ids{5, 19}));
  EXPECT_EQ(pieces("hel\xEF\xBF\xBDlo"), (Ids{5}));  // U+FFFD dropped
}

TEST(WordPiece, WhitespaceKinds) {
  // tab, newline, CR, NBSP, ideographic space, em space, line separator.
  EXPECT_EQ(pieces("hello\tworld\nhello\rworld\xC2\xA0hello\xE3\x80\x80world"
                   "\xE2\x80\x83hello\xE2\x80\xA8world"),
            (Ids{5, 6, 5, 6, 5, 6, 5, 6}));
  EXPECT_EQ(pieces("   hello    "), (Ids{5}));
}

TEST(WordPiece, GreedyLongestMatch) {
  EXPECT_EQ(tok().tokenize("unaffable"), (Pieces{"un", "##aff", "##able"}));
  EXPECT_EQ(pieces("helloworld"), (Ids{5, 19}));
  EXPECT_EQ(pieces("aaa"), (Ids{17, 18, 18}));
  EXPECT_EQ(pieces("hellox"), (Ids{5, 26}));
}

TEST(WordPiece, UnknownWords) {
  EXPECT_EQ(pieces("xyz"), (Ids{1}));
  // hello matches but "##p" does not: the whole word is one [UNK].
  EXPECT_EQ(pieces("hellop world"), (Ids{1, 6}));
  EXPECT_EQ(pieces("ß"), (Ids{1}));
}

TEST(WordPiece, MaxInputCharsPerWord) {
  const std::string hundred(100, 'a');
  Ids expect(100, 18);
  expect[0] = 17;
  EXPECT_EQ(pieces(hundred), expect);
  EXPECT_EQ(pieces(hundred + "a"), (Ids{1}));
  // Characters, not bytes: 60 two-byte characters are within 100.
  std::string accented;
  for (int i = 0; i < 60; ++i) accented += "\xC3\xA1";  // á
  EXPECT_EQ(pieces(accented).size(), 60u);
  TokenizerOptions o;
  o.max_input_chars_per_word = 5;
  WordPieceTokenizer t(test_vocab(), o);
  EXPECT_EQ(t.tokenize("hello helloworld"), (Pieces{"hello", "[UNK]"}));
}

TEST(WordPiece, EncodeAddsClsSep) {
  EXPECT_EQ(tok().encode("hello world", 16), (Ids{2, 5, 6, 3}));
  EXPECT_EQ(tok().encode("", 16), (Ids{2, 3}));
  EXPECT_EQ(tok().encode(" \t\n", 16), (Ids{2, 3}));
}

TEST(WordPiece, Truncation) {
  const std::string text = "hello world hello world hello";
  Ids ids = tok().encode(text, 4);
  EXPECT_EQ(ids, (Ids{2, 5, 6, 3}));
  EXPECT_EQ(tok().encode(text, 7), (Ids{2, 5, 6, 5, 6, 5, 3}));  // exactly fits
  EXPECT_EQ(tok().encode(text, 2), (Ids{2, 3}));
  ids = tok().encode(text, 5);
  ASSERT_EQ(ids.size(), 5u);
  EXPECT_EQ(ids.back(), 3);
  // Sub-word pieces are cut too: unaffable -> un ##aff, then [SEP].
  EXPECT_EQ(tok().encode("unaffable", 4), (Ids{2, 7, 8, 3}));
  EXPECT_THROW(tok().encode(text, 1), std::invalid_argument);
}

TEST(WordPiece, InvalidUtf8) {
  EXPECT_EQ(pieces("hel\xFFlo"), (Ids{5}));
  // A truncated three-byte sequence: the 'w' after it is not swallowed.
  EXPECT_EQ(pieces("\xE2\x82world"), (Ids{6}));
  EXPECT_EQ(pieces("hello\xC3"), (Ids{5}));
  EXPECT_EQ(pieces("hello \xC0\xAF world"), (Ids{5, 6}));  // overlong '/'
  EXPECT_EQ(pieces("hello\xED\xA0\x80"), (Ids{5}));         // surrogate
}

TEST(WordPiece, SpecialTokensInText) {
  EXPECT_EQ(pieces("hello [MASK] world"), (Ids{5, 4, 6}));
  EXPECT_EQ(pieces("hello[SEP]world"), (Ids{5, 3, 6}));
}

TEST(WordPiece, EncodeBatchPads) {
  auto b = tok().encode_batch({"hello", "hello, world", ""}, 16);
  EXPECT_EQ(b.size, 3);
  EXPECT_EQ(b.max_len, 5);
  EXPECT_EQ(b.ids, (Ids{2, 5, 3, 0, 0,  //
                        2, 5, 10, 6, 3,  //
                        2, 3, 0, 0, 0}));
  EXPECT_EQ(b.mask, (std::vector<uint8_t>{1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}));
  EXPECT_EQ(b.lengths, (std::vector<int64_t>{3, 5, 2}));
  auto t = tok().encode_batch({"hello world hello", "a"}, 3);
  EXPECT_EQ(t.max_len, 3);
  EXPECT_EQ(t.ids, (Ids{2, 5, 3, 2, 17, 3}));
  auto e = tok().encode_batch({}, 8);
  EXPECT_EQ(e.size, 0);
  EXPECT_TRUE(e.ids.empty());
}

TEST(WordPiece, EncodeBatchLargeMatchesEncode) {
  std::vector<std::string> texts;
  for (int i = 0; i < 1500; ++i) texts.push_back(std::string(i % 7, 'a') + " hello world");
  auto b = tok().encode_batch(texts, 8);
  ASSERT_EQ(b.size, 1500);
  for (size_t i = 0; i < texts.size(); ++i) {
    Ids want = tok().encode(texts[i], 8);
    Ids got(b.ids.begin() + static_cast<long>(i * b.max_len),
            b.ids.begin() + static_cast<long>(i * b.max_len + want.size()));
    ASSERT_EQ(got, want) << i;
    ASSERT_EQ(b.lengths[i], static_cast<int64_t>(want.size()));
  }
}

TEST(WordPiece, ConstructorRejectsMissingSpecial) {
  std::vector<std::string> v = {"[PAD]", "[UNK]", "[CLS]", "hello"};
  try {
    WordPieceTokenizer t(v, TokenizerOptions{});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("[SEP]"), std::string::npos) << e.what();
  }
}

TEST(WordPiece, FromVocabFile) {
  const std::string path = temp_path("vocab.txt");
  {
    std::ofstream f(path, std::ios::binary);
    for (const auto& t : test_vocab()) f << t << "\r\n";  // CRLF tolerated
  }
  auto t = WordPieceTokenizer::from_vocab_file(path, TokenizerOptions{});
  EXPECT_EQ(t.vocab_size(), 30);
  EXPECT_EQ(t.encode("Héllo, world", 8), (Ids{2, 5, 10, 6, 3}));
  std::remove(path.c_str());
}

TEST(WordPiece, FromVocabFileErrors) {
  const std::string missing = temp_path("does_not_exist.txt");
  try {
    WordPieceTokenizer::from_vocab_file(missing, TokenizerOptions{});
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  const std::string no_sep = temp_path("no_sep.txt");
  {
    std::ofstream f(no_sep, std::ios::binary);
    f << "[PAD]\n[UNK]\n[CLS]\nhello\n";
  }
  try {
    WordPieceTokenizer::from_vocab_file(no_sep, TokenizerOptions{});
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("[SEP]"), std::string::npos) << m;
    EXPECT_NE(m.find(no_sep), std::string::npos) << m;
  }
  const std::string blank = temp_path("blank.txt");
  {
    std::ofstream f(blank, std::ios::binary);
    f << "[PAD]\n[UNK]\n\n[CLS]\n[SEP]\n";
  }
  try {
    WordPieceTokenizer::from_vocab_file(blank, TokenizerOptions{});
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(blank + ":3"), std::string::npos) << m;
  }
  std::remove(no_sep.c_str());
  std::remove(blank.c_str());
}
