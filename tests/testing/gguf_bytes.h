// Byte builders for the GGUF files the tests write (little-endian values,
// GGUF strings: a uint64 length and the bytes), and the message of the
// hybrec::Error a call throws: shared by the GGUF reader, tokenizer and
// Llama decoder tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <exception>
#include <string>

#include "hybrec/kernels/error.h"

namespace hybrec::testing {

template <typename T>
void put(std::string& b, T v) {
  char raw[sizeof v];
  std::memcpy(raw, &v, sizeof v);
  b.append(raw, sizeof v);
}

inline void put_string(std::string& b, const std::string& s) {
  put<uint64_t>(b, s.size());
  b += s;
}

// What f throws as a hybrec::Error ("" when it returns; another exception
// is reported as such, so a substring check on it fails).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const hybrec::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a hybrec::Error: ") + e.what();
  }
  return "";
}

}  // namespace hybrec::testing
