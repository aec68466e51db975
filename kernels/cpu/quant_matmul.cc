// CPU quantised matrix products. Q8_0 and Q4_1 weights: x is quantised to
// int8 blocks once per call and each thread runs cpu/quant_q8.cc's integer
// tiles on its share of the output features. F32 and F16 weights keep fp32
// activations and two loops:
// - few rows of x (decode, n < kScratchRows): each W row is read and widened
//   in registers once per row of x, fused with the dot product;
// - many rows (prefill): W rows are widened in pairs once into a per-thread
//   float scratch and dotted with the rows of x in 2 x 4 tiles, so the
//   conversion is paid once per call rather than n times.
#include "cpu/quant_matmul.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/quant_q8.h"
#include "hybrec/kernels/quant.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define HYBREC_QUANT_AVX2 1
#endif

namespace hybrec::kernels::cpu {
namespace {

constexpr int64_t kScratchRows = 4;

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

#ifdef HYBREC_QUANT_AVX2
inline float fp16(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

float dot_f32(const float* a, const float* b, int64_t len) {
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 16 <= len; j += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8), acc1);
  }
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; j < len; ++j) s += a[j] * b[j];
  return s;
}

float dot_f16(const uint8_t* w, const float* x, int64_t len) {
  __m256 acc = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= len; j += 8) {
    const __m256 wf = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 2 * j)));
    acc = _mm256_fmadd_ps(wf, _mm256_loadu_ps(x + j), acc);
  }
  float s = hsum(acc);
  for (; j < len; ++j) s += fp16(w + 2 * j) * x[j];
  return s;
}

// Two W rows against four x rows: eight accumulators, so each loaded W and x
// vector feeds two or four FMAs (the prefill loop is load-bound otherwise).
void tile_2x4(const float* w0, const float* w1, const float* x, int64_t in, float* y, int64_t out) {
  __m256 a[2][4];
  for (auto& row : a)
    for (auto& v : row) v = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= in; j += 8) {
    const __m256 v0 = _mm256_loadu_ps(w0 + j);
    const __m256 v1 = _mm256_loadu_ps(w1 + j);
    for (int r = 0; r < 4; ++r) {
      const __m256 xv = _mm256_loadu_ps(x + r * in + j);
      a[0][r] = _mm256_fmadd_ps(v0, xv, a[0][r]);
      a[1][r] = _mm256_fmadd_ps(v1, xv, a[1][r]);
    }
  }
  for (int r = 0; r < 4; ++r) {
    float s0 = hsum(a[0][r]);
    float s1 = hsum(a[1][r]);
    for (int64_t t = j; t < in; ++t) {
      s0 += w0[t] * x[r * in + t];
      s1 += w1[t] * x[r * in + t];
    }
    y[r * out] = s0;
    y[r * out + 1] = s1;
  }
}
#else
inline float fp16(const uint8_t* p) { return half_to_float(load_u16(p)); }

float dot_f32(const float* a, const float* b, int64_t len) {
  float s = 0.0f;
  for (int64_t j = 0; j < len; ++j) s += a[j] * b[j];
  return s;
}

float dot_f16(const uint8_t* w, const float* x, int64_t len) {
  float s = 0.0f;
  for (int64_t j = 0; j < len; ++j) s += fp16(w + 2 * j) * x[j];
  return s;
}

void tile_2x4(const float* w0, const float* w1, const float* x, int64_t in, float* y, int64_t out) {
  for (int r = 0; r < 4; ++r) {
    y[r * out] = dot_f32(w0, x + r * in, in);
    y[r * out + 1] = dot_f32(w1, x + r * in, in);
  }
}
#endif

void widen_row(QuantType type, const uint8_t* w, int64_t in, float* out) {
  if (type == QuantType::kF16) {
    dequantize_row_f16(w, in, out);
  } else {
    std::memcpy(out, w, static_cast<std::size_t>(in) * sizeof(float));
  }
}

float dot_row(QuantType type, const uint8_t* w, const float* x, int64_t in) {
  return type == QuantType::kF16 ? dot_f16(w, x, in)
                                 : dot_f32(reinterpret_cast<const float*>(w), x, in);
}

// F32 / F16 weights, output features [begin, end). `scratch` holds 2 * in
// floats when n >= kScratchRows.
void float_range(const QuantMatmulParams& p, int64_t begin, int64_t end, float* scratch) {
  const int64_t in = p.in, out = p.out, n = p.n;
  const int64_t row_bytes = quant_row_bytes(p.w_type, in);
  const auto* w = static_cast<const uint8_t*>(p.w);
  if (n < kScratchRows) {
    for (int64_t o = begin; o < end; ++o) {
      for (int64_t r = 0; r < n; ++r) {
        p.y[r * out + o] = dot_row(p.w_type, w + o * row_bytes, p.x + r * in, in);
      }
    }
    return;
  }
  float* w0 = scratch;
  float* w1 = scratch + in;
  for (int64_t o = begin; o < end; o += 2) {
    widen_row(p.w_type, w + o * row_bytes, in, w0);
    if (o + 1 == end) {
      for (int64_t r = 0; r < n; ++r) p.y[r * out + o] = dot_f32(w0, p.x + r * in, in);
      continue;
    }
    widen_row(p.w_type, w + (o + 1) * row_bytes, in, w1);
    int64_t r = 0;
    for (; r + 4 <= n; r += 4) tile_2x4(w0, w1, p.x + r * in, in, p.y + r * out + o, out);
    for (; r < n; ++r) {
      p.y[r * out + o] = dot_f32(w0, p.x + r * in, in);
      p.y[r * out + o + 1] = dot_f32(w1, p.x + r * in, in);
    }
  }
}

bool is_block_type(QuantType type) { return type == QuantType::kQ8_0 || type == QuantType::kQ4_1; }

// This thread's share of [0, out): contiguous, cut at multiples of 4 so the
// tiles stay whole.
void thread_share(int64_t out, int64_t* begin, int64_t* end) {
  const int64_t threads = omp_get_num_threads();
  const int64_t thread = omp_get_thread_num();
  const int64_t groups = (out + 3) / 4;
  *begin = std::min(out, groups * thread / threads * 4);
  *end = std::min(out, groups * (thread + 1) / threads * 4);
}

}  // namespace

void quant_matmul(const QuantMatmulParams& p) {
  if (p.in == 0) {
    std::memset(p.y, 0, static_cast<std::size_t>(p.n * p.out) * sizeof(float));
    return;
  }
  if (is_block_type(p.w_type)) {
    std::vector<Q8Block> xq(static_cast<std::size_t>(p.n * (p.in / 32)));
    quantize_q8(p.x, p.n, p.in, xq.data());
#pragma omp parallel
    {
      int64_t begin = 0, end = 0;
      thread_share(p.out, &begin, &end);
      q8_matmul_range(p, xq.data(), begin, end);
    }
    return;
  }
#pragma omp parallel
  {
    std::vector<float> scratch(p.n >= kScratchRows ? static_cast<std::size_t>(2 * p.in) : 0);
    int64_t begin = 0, end = 0;
    thread_share(p.out, &begin, &end);
    float_range(p, begin, end, scratch.data());
  }
}

void quant_matmul_range(const QuantMatmulParams& p, const Q8Block* xq, int64_t begin, int64_t end) {
  if (begin == end) return;
  if (p.in == 0) {
    for (int64_t r = 0; r < p.n; ++r)
      std::fill(p.y + r * p.out + begin, p.y + r * p.out + end, 0.0f);
    return;
  }
  if (is_block_type(p.w_type)) {
    q8_matmul_range(p, xq, begin, end);
    return;
  }
  std::vector<float> scratch(p.n >= kScratchRows ? static_cast<std::size_t>(2 * p.in) : 0);
  float_range(p, begin, end, scratch.data());
}

}  // namespace hybrec::kernels::cpu
