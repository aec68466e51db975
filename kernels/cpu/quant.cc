// Host reference dequantisation (see hybrec/kernels/quant.h). Blocks are
// read with memcpy, not through a packed struct: GGUF only promises the
// tensor's start is aligned, and a 34-byte Q8_0 block leaves the next one's
// fp16 scale at an odd address.
#include "hybrec/kernels/quant.h"

#include <cmath>
#include <cstring>

#include "hybrec/kernels/error.h"

namespace hybrec::kernels {

namespace {

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);  // little-endian host, as the format
  return v;
}

void check_count(const char* fn, int64_t n, int64_t block, const void* in, const float* out) {
  HYBREC_CHECK(n >= 0, fn, ": n = ", n, " is negative");
  HYBREC_CHECK(n % block == 0, fn, ": n = ", n, " is not a multiple of the block size ", block);
  HYBREC_CHECK(n == 0 || (in != nullptr && out != nullptr), fn, ": null pointer with n = ", n);
}

}  // namespace

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf or NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // +-0
  } else {        // subnormal: shift the leading one into the implicit bit
    exponent = 113;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (magnitude >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: inf
  if (magnitude >= 0x38800000u) {  // a normal half (>= 2^-14)
    // Round the 23-bit significand to 10 bits, ties to even; a carry out of
    // the significand correctly bumps the exponent. Then rebias 127 -> 15.
    const uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u);
    return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
  }
  // Subnormal or zero: count units of 2^-24 (exact scaling by a power of
  // two), rounded to even; 1024 units is the smallest normal, 0x0400.
  float units;
  std::memcpy(&units, &magnitude, sizeof units);
  return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::nearbyint(units * 16777216.0f)));
}

void dequantize_row_f16(const void* halves, int64_t n, float* out) {
  check_count("dequantize_row_f16", n, 1, halves, out);
  const auto* src = static_cast<const uint8_t*>(halves);
  for (int64_t i = 0; i < n; ++i) out[i] = half_to_float(load_u16(src + 2 * i));
}

void dequantize_row_q8_0(const void* blocks, int64_t n, float* out) {
  check_count("dequantize_row_q8_0", n, kQ8_0BlockElems, blocks, out);
  const auto* src = static_cast<const uint8_t*>(blocks);
  for (int64_t b = 0; b < n / kQ8_0BlockElems; ++b) {
    const uint8_t* block = src + b * kQ8_0BlockBytes;
    const float d = half_to_float(load_u16(block));
    float* y = out + b * kQ8_0BlockElems;
    for (int64_t i = 0; i < kQ8_0BlockElems; ++i) {
      y[i] = d * static_cast<float>(static_cast<int8_t>(block[2 + i]));
    }
  }
}

void dequantize_row_q4_1(const void* blocks, int64_t n, float* out) {
  check_count("dequantize_row_q4_1", n, kQ4_1BlockElems, blocks, out);
  const auto* src = static_cast<const uint8_t*>(blocks);
  constexpr int64_t kHalf = kQ4_1BlockElems / 2;
  for (int64_t b = 0; b < n / kQ4_1BlockElems; ++b) {
    const uint8_t* block = src + b * kQ4_1BlockBytes;
    const float d = half_to_float(load_u16(block));
    const float m = half_to_float(load_u16(block + 2));
    const uint8_t* qs = block + 4;
    float* y = out + b * kQ4_1BlockElems;
    for (int64_t j = 0; j < kHalf; ++j) {
      y[j] = d * static_cast<float>(qs[j] & 0x0f) + m;
      y[j + kHalf] = d * static_cast<float>(qs[j] >> 4) + m;
    }
  }
}

}  // namespace hybrec::kernels
