// A byte-level BPE vocabulary with no merges: token id b is the GPT-2
// byte-alphabet symbol of byte b (bytes_to_unicode, written out from its
// definition), so every text encodes to one token per byte. For tests that
// need a tokenizer paired with a tiny Llama of vocabulary 256.
#pragma once

#include <string>

#include "trainer/text/bpe_tokenizer.h"

namespace hybrec::testing {

// The symbol of byte b: itself when printable Latin-1 ('!'..'~', 0xA1..0xAC,
// 0xAE..0xFF), else U+0100 + its index among the others; as UTF-8.
inline std::string byte_symbol(int b) {
  auto printable = [](int x) {
    return (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF);
  };
  int cp = b;
  if (!printable(b)) {
    cp = 256;
    for (int x = 0; x < b; ++x) cp += printable(x) ? 0 : 1;
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

inline text::BpeVocab byte_vocab() {
  text::BpeVocab v;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(byte_symbol(b));
  v.pre = "gpt2";
  return v;
}

}  // namespace hybrec::testing
