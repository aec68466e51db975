// Random GGUF weight rows for the quantised matrix product tests, and two
// references in double:
// - ref: every row dequantised by hybrec/kernels/quant.h, dotted with x as
//   given (what the product approximates);
// - for Q8_0 / Q4_1, ref_q8: x quantised to int8 blocks as the contract in
//   hybrec/kernels/quant_matmul.h spells it (written out here, not taken
//   from the library), then the block sums d_w d sum(qw q) (+ m_w s). The
//   kernels must equal it to fp32 rounding; act_tol bounds ref_q8 - ref,
//   the activation rounding, from the same comment's per-element bound.
// Scales are random fp16 values in [2^-6, 2^0) so the products stay O(1); x
// is uniform in [-x_scale, x_scale].
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
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
  // Block types only, [n, out]: the int8 reference, sum of |terms| of it (for
  // its fp32 tolerance) and the bound on |ref_q8 - ref|.
  std::vector<double> ref_q8, bound_q8, act_tol;

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

// One block of 32 activations quantised as the contract says.
struct RefQ8Block {
  int32_t q[32];
  float d, s;  // rounded to fp16
  double err;  // per-element bound e = amax / 254 + 127 |d - fp16(d)|
};

inline float round_half(float v) { return kernels::half_to_float(kernels::float_to_half(v)); }

inline RefQ8Block ref_quantize(const float* x) {
  RefQ8Block b{};
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  int32_t sum = 0;
  for (int j = 0; j < 32; ++j) {
    b.q[j] = static_cast<int32_t>(std::nearbyint(x[j] * id));  // ties to even
    sum += b.q[j];
  }
  b.d = round_half(d);
  b.s = round_half(d * static_cast<float>(sum));
  // 1e-4 of slack for the float roundings of x * id and of d and id.
  b.err = amax / 254.0 * (1.0 + 1e-4) + 127.0 * std::fabs(static_cast<double>(d) - b.d);
  return b;
}

// Fills ref_q8, bound_q8 and act_tol (block types).
inline void add_q8_reference(kernels::QuantType type, int64_t row_bytes, QuantProblem* p) {
  namespace hk = hybrec::kernels;
  const int64_t n = p->params.n, in = p->params.in, out = p->params.out;
  const int64_t blocks = in / 32;
  std::vector<RefQ8Block> xq(static_cast<std::size_t>(n * blocks));
  for (int64_t i = 0; i < n * blocks; ++i) xq[i] = ref_quantize(p->x.data() + i * 32);
  p->ref_q8.assign(static_cast<std::size_t>(n * out), 0.0);
  p->bound_q8.assign(p->ref_q8.size(), 0.0);
  p->act_tol.assign(p->ref_q8.size(), 0.0);
  auto half_at = [](const uint8_t* b) {
    return hk::half_to_float(static_cast<uint16_t>(b[0] | b[1] << 8));
  };
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t r = 0; r < n; ++r) {
      double y = 0.0, mag = 0.0, tol = 0.0;
      for (int64_t b = 0; b < blocks; ++b) {
        const RefQ8Block& xb = xq[r * blocks + b];
        int32_t qw[32];
        double dw = 0.0, mw = 0.0;
        if (type == hk::QuantType::kQ8_0) {
          const uint8_t* blk = p->w.data() + o * row_bytes + b * hk::kQ8_0BlockBytes;
          dw = half_at(blk);
          for (int j = 0; j < 32; ++j) qw[j] = static_cast<int8_t>(blk[2 + j]);
        } else {
          const uint8_t* blk = p->w.data() + o * row_bytes + b * hk::kQ4_1BlockBytes;
          dw = half_at(blk);
          mw = half_at(blk + 2);
          for (int j = 0; j < 16; ++j) {
            qw[j] = blk[4 + j] & 0x0F;
            qw[j + 16] = blk[4 + j] >> 4;
          }
        }
        int64_t dot = 0, dot_abs = 0, w_abs = 0;
        for (int j = 0; j < 32; ++j) {
          dot += static_cast<int64_t>(qw[j]) * xb.q[j];
          dot_abs += std::abs(static_cast<int64_t>(qw[j]) * xb.q[j]);
          w_abs += std::abs(qw[j]);
        }
        y += dw * xb.d * static_cast<double>(dot) + mw * xb.s;
        mag += std::fabs(dw * xb.d) * static_cast<double>(dot_abs) + std::fabs(mw * xb.s);
        tol += std::fabs(dw) * static_cast<double>(w_abs) * xb.err +
               std::fabs(mw) *
                   (32.0 * xb.err + std::fabs(xb.s) * std::ldexp(1.0, -11) + std::ldexp(1.0, -25));
      }
      p->ref_q8[r * out + o] = y;
      p->bound_q8[r * out + o] = mag;
      p->act_tol[r * out + o] = tol;
    }
  }
}

inline QuantProblem make_quant_problem(kernels::QuantType type, int64_t n, int64_t in, int64_t out,
                                       uint64_t seed, float x_scale = 1.0f) {
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
  for (auto& v : p.x) v = x_scale * uni(rng);

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
  if (type == hk::QuantType::kQ8_0 || type == hk::QuantType::kQ4_1) {
    add_q8_reference(type, row_bytes, &p);
  }
  return p;
}

}  // namespace hybrec::testing
