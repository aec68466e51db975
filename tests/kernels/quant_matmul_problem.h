// Random GGUF weight rows for the quantised matrix product tests, and the
// reference: every row dequantised by hybrec/kernels/quant.h, then the dot
// with x in double. Scales are random fp16 values in [2^-6, 2^0) so the
// products stay O(1).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "hybrec/kernels/quant.h"
#include "hybrec/kernels/quant_matmul.h"

namespace hybrec::testing {

struct QuantProblem {
  kernels::QuantMatmulParams params;  // pointers filled by bind()
  std::vector<uint8_t> w;
  std::vector<float> x;
  std::vector<double> ref;    // [n, out]
  std::vector<double> bound;  // [n, out]: sum_j |w_j x_j|, for the tolerance

  void bind(float* y) {
    params.w = w.data();
    params.x = x.data();
    params.y = y;
  }
};

inline uint16_t random_half(std::mt19937_64& rng, bool allow_negative) {
  const uint16_t sign = allow_negative ? static_cast<uint16_t>(rng() & 1u) : 0;
  const uint16_t exponent = static_cast<uint16_t>(9 + rng() % 6);  // 2^-6 .. 2^-1
  const uint16_t mantissa = static_cast<uint16_t>(rng() & 0x3FFu);
  return static_cast<uint16_t>(sign << 15 | exponent << 10 | mantissa);
}

inline void put_half(uint8_t* p, uint16_t h) {
  p[0] = static_cast<uint8_t>(h & 0xFF);
  p[1] = static_cast<uint8_t>(h >> 8);
}

inline QuantProblem make_quant_problem(kernels::QuantType type, int64_t n, int64_t in, int64_t out,
                                       uint64_t seed) {
  namespace hk = hybrec::kernels;
  std::mt19937_64 rng(seed);
  QuantProblem p;
  p.params.n = n;
  p.params.in = in;
  p.params.out = out;
  p.params.w_type = type;
  const int64_t row_bytes = hk::quant_row_bytes(type, in);
  p.w.resize(static_cast<std::size_t>(row_bytes * out));
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  for (int64_t o = 0; o < out; ++o) {
    uint8_t* row = p.w.data() + o * row_bytes;
    switch (type) {
      case hk::QuantType::kF32:
        for (int64_t j = 0; j < in; ++j) {
          const float v = uni(rng);
          std::memcpy(row + 4 * j, &v, sizeof(v));
        }
        break;
      case hk::QuantType::kF16:
        for (int64_t j = 0; j < in; ++j) put_half(row + 2 * j, random_half(rng, true));
        break;
      case hk::QuantType::kQ8_0:
        for (int64_t b = 0; b < in / 32; ++b) {
          uint8_t* blk = row + b * hk::kQ8_0BlockBytes;
          put_half(blk, random_half(rng, true));
          for (int j = 0; j < 32; ++j) blk[2 + j] = static_cast<uint8_t>(rng());
        }
        break;
      case hk::QuantType::kQ4_1:
        for (int64_t b = 0; b < in / 32; ++b) {
          uint8_t* blk = row + b * hk::kQ4_1BlockBytes;
          put_half(blk, random_half(rng, false));
          put_half(blk + 2, random_half(rng, true));
          for (int j = 0; j < 16; ++j) blk[4 + j] = static_cast<uint8_t>(rng());
        }
        break;
    }
  }
  p.x.resize(static_cast<std::size_t>(n * in));
  for (auto& v : p.x) v = uni(rng);

  p.ref.assign(static_cast<std::size_t>(n * out), 0.0);
  p.bound.assign(static_cast<std::size_t>(n * out), 0.0);
  std::vector<float> wrow(static_cast<std::size_t>(in));
  for (int64_t o = 0; o < out; ++o) {
    const uint8_t* row = p.w.data() + o * row_bytes;
    switch (type) {
      case hk::QuantType::kF32:
        std::memcpy(wrow.data(), row, static_cast<std::size_t>(in) * sizeof(float));
        break;
      case hk::QuantType::kF16:
        hk::dequantize_row_f16(row, in, wrow.data());
        break;
      case hk::QuantType::kQ8_0:
        hk::dequantize_row_q8_0(row, in, wrow.data());
        break;
      case hk::QuantType::kQ4_1:
        hk::dequantize_row_q4_1(row, in, wrow.data());
        break;
    }
    for (int64_t r = 0; r < n; ++r) {
      double s = 0.0, b = 0.0;
      for (int64_t j = 0; j < in; ++j) {
        const double t = static_cast<double>(wrow[j]) * p.x[r * in + j];
        s += t;
        b += std::fabs(t);
      }
      p.ref[r * out + o] = s;
      p.bound[r * out + o] = b;
    }
  }
  return p;
}

}  // namespace hybrec::testing
