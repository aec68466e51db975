// The byte-level BPE tokenizer: unit tests on a hand-built vocabulary (the
// 256 byte symbols, a few merges, ChatML control tokens), a tiny GGUF for
// the key checks, and parity with llama.cpp on the real SmolLM2 vocabulary:
// fixtures/smollm2_tokens.json, written by fixtures/make_bpe_fixtures.py.
// The SmolLM2 tests skip when scripts/get-smollm2.sh has not placed the model.
#include "trainer/text/bpe_tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"
#include "testing/gguf_bytes.h"
#include "trainer/text/gguf.h"

namespace hybrec::text {
namespace {

using hybrec::testing::put;
using hybrec::testing::put_string;
using hybrec::testing::error_of;

const std::string kModel =
    std::string(HYBREC_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
const std::string kFixture =
    std::string(HYBREC_SOURCE_DIR) + "/tests/trainer/text/fixtures/smollm2_tokens.json";

const char kSmolTemplate[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|im_start|>assistant\n' }}{% endif %}";


// GPT-2's bytes_to_unicode, written out from its definition.
std::string byte_symbol(int b) {
  std::vector<int> printable;
  for (int c = '!'; c <= '~'; ++c) printable.push_back(c);
  for (int c = 0xA1; c <= 0xAC; ++c) printable.push_back(c);
  for (int c = 0xAE; c <= 0xFF; ++c) printable.push_back(c);
  int cp = -1, extra = 0;
  for (int x = 0; x < 256; ++x) {
    const bool p = std::find(printable.begin(), printable.end(), x) != printable.end();
    const int mapped = p ? x : 256 + extra++;
    if (x == b) cp = mapped;
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// Ids 0..2 control tokens, 3..258 the byte symbols (id 3 + byte), then `extra`.
BpeVocab tiny_vocab(const std::vector<std::string>& merges, const std::vector<std::string>& extra) {
  BpeVocab v;
  v.tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  v.token_types = {3, 3, 3};
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(byte_symbol(b));
    v.token_types.push_back(1);
  }
  for (const auto& t : extra) {
    v.tokens.push_back(t);
    v.token_types.push_back(1);
  }
  v.merges = merges;
  v.pre = "smollm";
  v.bos_id = 1;
  v.eos_id = 2;
  v.chat_template = kSmolTemplate;
  return v;
}
int32_t byte_id(unsigned char b) { return 3 + b; }

TEST(BpeTokenizer, MergesLowestRankFirst) {
  // "abc": with "b c" ranked first the result is a|bc, then "a bc" joins it.
  BpeTokenizer bc_first(tiny_vocab({"b c", "a b", "a bc"}, {"bc", "ab", "abc"}));
  EXPECT_EQ(bc_first.encode("abc"), (std::vector<int32_t>{bc_first.find_token("abc")}));
  EXPECT_EQ(bc_first.encode("abd"),
            (std::vector<int32_t>{bc_first.find_token("ab"), byte_id('d')}));
  // With "a b" ranked first: ab|c, and no "ab c" merge.
  BpeTokenizer ab_first(tiny_vocab({"a b", "b c", "a bc"}, {"bc", "ab", "abc"}));
  EXPECT_EQ(ab_first.encode("abc"),
            (std::vector<int32_t>{ab_first.find_token("ab"), byte_id('c')}));
}

TEST(BpeTokenizer, EqualRanksMergeLeftmostFirst) {
  BpeTokenizer tok(tiny_vocab({"a a"}, {"aa"}));
  const int32_t aa = tok.find_token("aa");
  EXPECT_EQ(tok.encode("aaa"), (std::vector<int32_t>{aa, byte_id('a')}));
  EXPECT_EQ(tok.encode("aaaa"), (std::vector<int32_t>{aa, aa}));
}

TEST(BpeTokenizer, LeadingSpaceIsTheByteSymbolG) {
  BpeTokenizer tok(tiny_vocab({"\xc4\xa0 x"}, {"\xc4\xa0x"}));
  EXPECT_EQ(tok.encode("x x"), (std::vector<int32_t>{byte_id('x'), tok.find_token("\xc4\xa0x")}));
}

TEST(BpeTokenizer, UnmergedBytesFallBackToByteTokens) {
  BpeTokenizer tok(tiny_vocab({}, {}));
  EXPECT_EQ(tok.encode("\xc3\xa9"), (std::vector<int32_t>{byte_id(0xC3), byte_id(0xA9)}));
  EXPECT_EQ(tok.encode(std::string("\x00\x7f", 2)),
            (std::vector<int32_t>{byte_id(0x00), byte_id(0x7F)}));
  EXPECT_EQ(tok.decode(tok.encode("\xc3\xa9")), "\xc3\xa9");
}

TEST(BpeTokenizer, ByteWithoutTokenIsDroppedAsInLlamaCpp) {
  BpeVocab v = tiny_vocab({}, {});
  v.tokens[byte_id('z')] = "<z-missing>";
  BpeTokenizer tok(v);
  EXPECT_EQ(tok.encode("azb"), (std::vector<int32_t>{byte_id('a'), byte_id('b')}));
}

TEST(BpeTokenizer, SpecialTokensAreSplitOutWhole) {
  BpeTokenizer tok(tiny_vocab({}, {}));
  EXPECT_EQ(tok.encode("x<|im_start|>y<|im_end|><|endoftext|>"),
            (std::vector<int32_t>{byte_id('x'), 1, byte_id('y'), 2, 0}));
  // Off: the markers are plain text, byte by byte.
  const auto plain = tok.encode("<|im_end|>", /*parse_special=*/false);
  ASSERT_EQ(plain.size(), 10u);
  EXPECT_EQ(plain[0], byte_id('<'));
  EXPECT_EQ(tok.decode(plain), "<|im_end|>");
}

TEST(BpeTokenizer, LongerSpecialTokenWins) {
  BpeVocab v = tiny_vocab({}, {"<|im_start|>user"});
  v.token_types.back() = 4;  // user-defined: matched even with parse_special off
  BpeTokenizer tok(v);
  const int32_t user = tok.find_token("<|im_start|>user");
  EXPECT_EQ(tok.encode("<|im_start|>user<|im_start|>"), (std::vector<int32_t>{user, 1}));
  EXPECT_EQ(tok.encode("<|im_start|>user", false), (std::vector<int32_t>{user}));
}

TEST(BpeTokenizer, PreTokenizerSmolLMSplitsDigitsThenGpt2) {
  BpeTokenizer tok(tiny_vocab({}, {}));
  EXPECT_EQ(
      tok.pre_tokenize("Hello  world's 123\n\n x"),
      (std::vector<std::string>{"Hello", " ", " world", "'s", " ", "1", "2", "3", "\n\n", " x"}));
  EXPECT_EQ(tok.pre_tokenize("a, b!? \xe6\x97\xa5\xe6\x9c\xac  "),
            (std::vector<std::string>{"a", ",", " b", "!?", " \xe6\x97\xa5\xe6\x9c\xac", "  "}));
  BpeVocab v = tiny_vocab({}, {});
  v.pre = "gpt2";
  EXPECT_EQ(BpeTokenizer(v).pre_tokenize("x 123"), (std::vector<std::string>{"x", " 123"}));
}

TEST(BpeTokenizer, InvalidUtf8BecomesReplacementCharacters) {
  BpeTokenizer tok(tiny_vocab({}, {}));
  EXPECT_EQ(tok.encode("a\xff"
                       "b"),
            tok.encode("a\xef\xbf\xbd"
                       "b"));
  EXPECT_EQ(tok.decode(tok.encode("\xc3")), "\xef\xbf\xbd");
}

TEST(BpeTokenizer, DecodeOfPartialCharacterIsReplacedAndSpecialsSkippable) {
  BpeTokenizer tok(tiny_vocab({}, {}));
  EXPECT_EQ(tok.token_bytes(byte_id(0xE6)), "\xe6");
  EXPECT_EQ(tok.decode({byte_id('a'), byte_id(0xE6), byte_id(0x97)}), "a\xef\xbf\xbd");
  EXPECT_EQ(tok.decode({1, byte_id('h'), 2}), "<|im_start|>h<|im_end|>");
  EXPECT_EQ(tok.decode({1, byte_id('h'), 2}, /*skip_special=*/true), "h");
  EXPECT_NE(error_of([&] { tok.decode({99999}); }).find("99999"), std::string::npos);
}

TEST(BpeTokenizer, ChatPromptRendersChatMLWithDefaultSystem) {
  BpeTokenizer tok(tiny_vocab({}, {}));
  EXPECT_EQ(tok.chat_prompt({{"user", "Hi"}}, true),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(
      tok.chat_prompt({{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}}, false),
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
      "<|im_start|>assistant\nHello<|im_end|>\n");
  EXPECT_EQ(tok.chat_prompt({}, true), "<|im_start|>assistant\n");
}

TEST(BpeTokenizer, NonChatMLTemplateIsRejectedByName) {
  BpeVocab v = tiny_vocab({}, {});
  v.chat_template = "{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}";
  BpeTokenizer tok(v);
  const std::string e = error_of([&] { tok.chat_prompt({{"user", "x"}}, true); });
  EXPECT_NE(e.find("[INST]"), std::string::npos) << e;
  EXPECT_NE(e.find("not ChatML"), std::string::npos) << e;
}

TEST(BpeTokenizer, BadVocabulariesNameTheValue) {
  BpeVocab v = tiny_vocab({"nospace"}, {});
  EXPECT_NE(error_of([&] { BpeTokenizer t(v); }).find("'nospace'"), std::string::npos);
  v = tiny_vocab({}, {});
  v.pre = "qwen2";
  EXPECT_NE(error_of([&] { BpeTokenizer t(v); }).find("'qwen2'"), std::string::npos);
  v = tiny_vocab({}, {});
  v.eos_id = 5000;
  EXPECT_NE(error_of([&] { BpeTokenizer t(v); }).find("eos token id 5000"), std::string::npos);
}

// ---- A tiny GGUF with chosen tokenizer keys -----------------------------------


class BpeGguf : public ::testing::Test {
 protected:
  // All the keys, less `drop`; `model` as tokenizer.ggml.model.
  std::string load_error(const std::string& drop, const std::string& model = "gpt2") {
    const BpeVocab v = tiny_vocab({"a b"}, {"ab"});
    std::vector<std::pair<std::string, std::string>> kvs;  // key, type id + value
    auto str = [&](const std::string& key, const std::string& s) {
      std::string b;
      put<uint32_t>(b, 8);
      put_string(b, s);
      kvs.emplace_back(key, b);
    };
    auto u32 = [&](const std::string& key, uint32_t x) {
      std::string b;
      put<uint32_t>(b, 4);
      put<uint32_t>(b, x);
      kvs.emplace_back(key, b);
    };
    auto strs = [&](const std::string& key, const std::vector<std::string>& xs) {
      std::string b;
      put<uint32_t>(b, 9);
      put<uint32_t>(b, 8);
      put<uint64_t>(b, xs.size());
      for (const auto& s : xs) put_string(b, s);
      kvs.emplace_back(key, b);
    };
    str("general.architecture", "llama");
    str("tokenizer.ggml.model", model);
    strs("tokenizer.ggml.tokens", v.tokens);
    strs("tokenizer.ggml.merges", v.merges);
    std::string types;
    put<uint32_t>(types, 9);
    put<uint32_t>(types, 5);
    put<uint64_t>(types, v.token_types.size());
    for (int32_t t : v.token_types) put<int32_t>(types, t);
    kvs.emplace_back("tokenizer.ggml.token_type", types);
    str("tokenizer.ggml.pre", "smollm");
    u32("tokenizer.ggml.bos_token_id", 1);
    u32("tokenizer.ggml.eos_token_id", 2);
    str("tokenizer.chat_template", kSmolTemplate);
    std::string file = "GGUF";
    put<uint32_t>(file, 3);
    put<uint64_t>(file, 0);
    std::size_t n = 0;
    for (const auto& kv : kvs) n += kv.first != drop;
    put<uint64_t>(file, n);
    for (const auto& [key, value] : kvs) {
      if (key == drop) continue;
      put_string(file, key);
      file += value;
    }
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("bpe_tokenizer_test_" + std::to_string(::getpid()) + ".gguf"))
                                 .string();
    std::ofstream(path, std::ios::binary) << file;
    const std::string e = error_of([&] {
      GgufFile f(path);
      BpeTokenizer tok = BpeTokenizer::from_gguf(f);
      EXPECT_EQ(tok.encode("ab"), (std::vector<int32_t>{tok.find_token("ab")}));
      EXPECT_EQ(tok.eos_id(), 2);
    });
    std::filesystem::remove(path);
    return e;
  }
};

TEST_F(BpeGguf, LoadsWhenAllKeysArePresent) { EXPECT_EQ(load_error(""), ""); }

TEST_F(BpeGguf, MissingKeyIsNamed) {
  for (const char* key : {"tokenizer.ggml.merges", "tokenizer.ggml.tokens", "tokenizer.ggml.pre",
                          "tokenizer.ggml.eos_token_id", "tokenizer.ggml.model"}) {
    const std::string e = load_error(key);
    EXPECT_NE(e.find(key), std::string::npos) << e;
  }
  EXPECT_EQ(load_error("tokenizer.chat_template"), "");  // optional
}

TEST_F(BpeGguf, OtherTokenizerModelIsNamed) {
  const std::string e = load_error("", "llama");
  EXPECT_NE(e.find("'llama'"), std::string::npos) << e;
}

// ---- SmolLM2 against llama.cpp --------------------------------------------------

std::string from_hex(const std::string& h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
    out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  }
  return out;
}

bool valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t len = b < 0x80                  ? 1
                      : (b >= 0xC2 && b < 0xE0) ? 2
                      : (b >= 0xE0 && b < 0xF0) ? 3
                      : (b >= 0xF0 && b < 0xF5) ? 4
                                                : 0;
    if (len == 0 || i + len > s.size()) return false;
    char32_t c = len == 1 ? b : b & (0xFF >> (len + 1));
    for (std::size_t k = 1; k < len; ++k) {
      const auto x = static_cast<unsigned char>(s[i + k]);
      if ((x & 0xC0) != 0x80) return false;
      c = (c << 6) | (x & 0x3F);
    }
    if ((len == 3 && (c < 0x800 || (c >= 0xD800 && c < 0xE000))) ||
        (len == 4 && (c < 0x10000 || c > 0x10FFFF))) {
      return false;
    }
    i += len;
  }
  return true;
}

class SmolLM2Tokenizer : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kModel)) {
      GTEST_SKIP() << "no SmolLM2 at " << kModel << " (run scripts/get-smollm2.sh)";
    }
    file_ = std::make_unique<GgufFile>(kModel);
    tok_ = std::make_unique<BpeTokenizer>(BpeTokenizer::from_gguf(*file_));
  }
  std::unique_ptr<GgufFile> file_;
  std::unique_ptr<BpeTokenizer> tok_;
};

TEST_F(SmolLM2Tokenizer, MatchesLlamaCppOnEveryFixture) {
  std::ifstream in(kFixture);
  ASSERT_TRUE(in) << "no fixture " << kFixture;
  const auto j = nlohmann::json::parse(in);
  ASSERT_GE(j["cases"].size(), 15u);
  for (const auto& c : j["cases"]) {
    const std::string text =
        c.contains("hex") ? from_hex(c["hex"].get<std::string>()) : c["text"].get<std::string>();
    const auto want = c["ids"].get<std::vector<int32_t>>();
    const auto got = tok_->encode(text, c["parse_special"].get<bool>());
    EXPECT_EQ(got, want) << "text: " << c.dump();
    EXPECT_EQ(tok_->decode(want), c["decoded"].get<std::string>()) << "text: " << c.dump();
  }
}

TEST_F(SmolLM2Tokenizer, RoundTripsRandomText) {
  std::mt19937 rng(7);
  // Code points from ASCII, Latin-1, Greek/Cyrillic, CJK, emoji, whitespace.
  const std::vector<std::pair<char32_t, char32_t>> ranges = {
      {0x20, 0x7E},     {0x20, 0x7E},     {0x09, 0x0D},       {0xA0, 0xFF},    {0x370, 0x4FF},
      {0x4E00, 0x9FFF}, {0x3040, 0x30FF}, {0x1F300, 0x1F6FF}, {0x2000, 0x206F}};
  for (int trial = 0; trial < 300; ++trial) {
    std::string s;
    const int n = std::uniform_int_distribution<int>(0, 40)(rng);
    for (int k = 0; k < n; ++k) {
      const auto& r = ranges[std::uniform_int_distribution<std::size_t>(0, ranges.size() - 1)(rng)];
      const char32_t c = std::uniform_int_distribution<uint32_t>(r.first, r.second)(rng);
      if (c < 0x80) {
        s += static_cast<char>(c);
      } else if (c < 0x800) {
        s += static_cast<char>(0xC0 | (c >> 6));
        s += static_cast<char>(0x80 | (c & 0x3F));
      } else if (c < 0x10000) {
        s += static_cast<char>(0xE0 | (c >> 12));
        s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (c & 0x3F));
      } else {
        s += static_cast<char>(0xF0 | (c >> 18));
        s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (c & 0x3F));
      }
    }
    EXPECT_EQ(tok_->decode(tok_->encode(s)), s);
  }
  // Random bytes: never a crash; the decode is valid UTF-8, and equal to the
  // input (less the bytes without a token) whenever the input was.
  for (int trial = 0; trial < 300; ++trial) {
    std::string s(std::uniform_int_distribution<int>(0, 24)(rng), '\0');
    for (auto& ch : s) ch = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    const std::string back = tok_->decode(tok_->encode(s));
    EXPECT_TRUE(valid_utf8(back));
    std::string kept;  // s less the bytes SmolLM2 has no token for
    for (char ch : s) {
      if (tok_->find_token(byte_symbol(static_cast<unsigned char>(ch))) >= 0) kept += ch;
    }
    if (valid_utf8(s) && valid_utf8(kept)) {
      EXPECT_EQ(back, kept);
    }
  }
}

TEST_F(SmolLM2Tokenizer, ChatPromptKeepsSpecialTokensWhole) {
  EXPECT_EQ(tok_->pre(), "smollm");
  const int32_t start = tok_->find_token("<|im_start|>");
  const int32_t end = tok_->find_token("<|im_end|>");
  EXPECT_EQ(start, 1);
  EXPECT_EQ(end, 2);
  const std::string prompt = tok_->chat_prompt({{"user", "What is 2+2?"}}, true);
  EXPECT_EQ(prompt,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n");
  const auto ids = tok_->encode(prompt);
  int starts = 0, ends = 0;
  for (int32_t id : ids) {
    starts += id == start;
    ends += id == end;
  }
  EXPECT_EQ(starts, 3);
  EXPECT_EQ(ends, 2);
  EXPECT_EQ(ids.front(), start);
  EXPECT_EQ(tok_->decode(ids), prompt);
  // The generation prompt ends the ids: the last <|im_start|>, then "assistant\n".
  const auto last = std::find(ids.rbegin(), ids.rend(), start).base() - 1;
  EXPECT_EQ(tok_->decode({last, ids.end()}), "<|im_start|>assistant\n");
}

}  // namespace
}  // namespace hybrec::text
