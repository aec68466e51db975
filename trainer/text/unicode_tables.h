// The Unicode data the BERT WordPiece tokenizer and the byte-level BPE
// pre-tokenizer need, as sorted tables in
// unicode_tables.cc, which scripts/gen_unicode_tables.py generates from
// Python's unicodedata (the version is kUnicodeVersion). Control,
// punctuation and non-spacing-mark classes follow Unicode 8.0 where it
// differs, as Hugging Face tokenizers (crate unicode_categories) does.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hybrec::text::unicode {

extern const char* const kUnicodeVersion;

// Bits of properties().
enum : uint8_t {
  kControl = 1,         // Cc, Cf, Co (not \t \n \r): dropped by clean_text
  kWhitespace = 2,      // White_Space
  kPunctuation = 4,     // P*, plus ASCII 33-47, 58-64, 91-96, 123-126
  kCjk = 8,             // BERT's CJK ideograph blocks
  kNonspacingMark = 16  // Mn: dropped after NFD when stripping accents
};
uint8_t properties(char32_t c);

// Bits of letter_number(): general category L* (\p{L}) or N* (\p{N}), as
// the GPT-2 pre-tokenizer regex tests them. Current categories of
// kUnicodeVersion, without the Unicode 8.0 overrides of properties().
enum : uint8_t { kLetter = 1, kNumber = 2 };
uint8_t letter_number(char32_t c);

// Canonical combining class (0 for starters).
uint8_t combining_class(char32_t c);

// The full canonical decomposition of c, or 0 (with *out untouched) when c
// has none. Hangul syllables are not in the table (decompose them in code).
size_t canonical_decomposition(char32_t c, const char32_t** out);

// Python's str.lower() of the single code point c: writes 1..kMaxLowerLength
// code points (c itself when it has no lower case) and returns the count.
inline constexpr size_t kMaxLowerLength = 3;
size_t to_lower(char32_t c, char32_t out[kMaxLowerLength]);

}  // namespace hybrec::text::unicode
