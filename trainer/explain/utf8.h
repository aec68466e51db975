// Internal to trainer/explain: code points of valid UTF-8 and back. Texts
// pass through text::valid_utf8 first, so decoding needs no checks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "trainer/text/utf8.h"

namespace hybrec::explain {

using text::append_utf8;

// The code points of `s`, which must be valid UTF-8.
inline std::u32string decode_valid_utf8(std::string_view s) {
  std::u32string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    const int len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    char32_t c = len == 1 ? b : len == 2 ? b & 0x1F : len == 3 ? b & 0x0F : b & 0x07;
    for (int k = 1; k < len; ++k) c = (c << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
    out += c;
    i += static_cast<std::size_t>(len);
  }
  return out;
}

inline std::string encode_utf8(const std::u32string& cps) {
  std::string out;
  for (const char32_t c : cps) append_utf8(c, out);
  return out;
}

}  // namespace hybrec::explain
