// CPU quantised matrix products. Two loops share the block readers:
// - few rows of x (decode, n < kScratchRows): each W row is read and
//   dequantised in registers once per row of x, fused with the dot product;
// - many rows (prefill): W rows are dequantised in pairs once into a
//   per-thread float scratch and dotted with the rows of x in 2 x 4 tiles, so
//   the conversion is paid once per call rather than n times.
// Q4_1 blocks are summed as d * sum(q * x) + m * sum(x): sum(x) per block is
// computed once per row of x and shared by every output feature.
#include "cpu/quant_matmul.h"

#include <cstring>
#include <vector>

#include "hybrec/kernels/quant.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define HYBREC_QUANT_AVX2 1
#endif

namespace hybrec::kernels::cpu {
namespace {

constexpr int64_t kScratchRows = 4;
constexpr int64_t kBlock = 32;

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

inline __m256 u8x8_to_ps(__m128i bytes) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)); }
inline __m256 i8x8_to_ps(__m128i bytes) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes)); }

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

// Blocks of 34 bytes: fp16 d, 32 int8 q.
float dot_q8_0(const uint8_t* w, const float* x, int64_t blocks) {
  __m256 total = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b, w += kQ8_0BlockBytes, x += kBlock) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 2));
    const __m128i q_lo = _mm256_castsi256_si128(q);
    const __m128i q_hi = _mm256_extracti128_si256(q, 1);
    __m256 acc = _mm256_mul_ps(i8x8_to_ps(q_lo), _mm256_loadu_ps(x));
    acc = _mm256_fmadd_ps(i8x8_to_ps(_mm_srli_si128(q_lo, 8)), _mm256_loadu_ps(x + 8), acc);
    acc = _mm256_fmadd_ps(i8x8_to_ps(q_hi), _mm256_loadu_ps(x + 16), acc);
    acc = _mm256_fmadd_ps(i8x8_to_ps(_mm_srli_si128(q_hi, 8)), _mm256_loadu_ps(x + 24), acc);
    total = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w)), acc, total);
  }
  return hsum(total);
}

// Blocks of 20 bytes: fp16 d, fp16 m, 16 bytes of nibbles (low nibble of
// byte j = element j, high nibble = element j + 16). xsum[b] = sum of the
// block's 32 x values.
float dot_q4_1(const uint8_t* w, const float* x, const float* xsum, int64_t blocks) {
  const __m128i mask = _mm_set1_epi8(0x0F);
  __m256 total = _mm256_setzero_ps();
  float offset = 0.0f;
  for (int64_t b = 0; b < blocks; ++b, w += kQ4_1BlockBytes, x += kBlock) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 4));
    const __m128i lo = _mm_and_si128(raw, mask);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
    __m256 acc = _mm256_mul_ps(u8x8_to_ps(lo), _mm256_loadu_ps(x));
    acc = _mm256_fmadd_ps(u8x8_to_ps(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(x + 8), acc);
    acc = _mm256_fmadd_ps(u8x8_to_ps(hi), _mm256_loadu_ps(x + 16), acc);
    acc = _mm256_fmadd_ps(u8x8_to_ps(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(x + 24), acc);
    total = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w)), acc, total);
    offset += fp16(w + 2) * xsum[b];
  }
  return hsum(total) + offset;
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

float dot_q8_0(const uint8_t* w, const float* x, int64_t blocks) {
  float total = 0.0f;
  for (int64_t b = 0; b < blocks; ++b, w += kQ8_0BlockBytes, x += kBlock) {
    const int8_t* q = reinterpret_cast<const int8_t*>(w + 2);
    float acc = 0.0f;
    for (int64_t j = 0; j < kBlock; ++j) acc += static_cast<float>(q[j]) * x[j];
    total += fp16(w) * acc;
  }
  return total;
}

float dot_q4_1(const uint8_t* w, const float* x, const float* xsum, int64_t blocks) {
  float total = 0.0f;
  for (int64_t b = 0; b < blocks; ++b, w += kQ4_1BlockBytes, x += kBlock) {
    const uint8_t* q = w + 4;
    float acc = 0.0f;
    for (int64_t j = 0; j < 16; ++j) {
      acc += static_cast<float>(q[j] & 0x0F) * x[j];
      acc += static_cast<float>(q[j] >> 4) * x[j + 16];
    }
    total += fp16(w) * acc + fp16(w + 2) * xsum[b];
  }
  return total;
}

void tile_2x4(const float* w0, const float* w1, const float* x, int64_t in, float* y, int64_t out) {
  for (int r = 0; r < 4; ++r) {
    y[r * out] = dot_f32(w0, x + r * in, in);
    y[r * out + 1] = dot_f32(w1, x + r * in, in);
  }
}
#endif

void dequantize_row(QuantType type, const uint8_t* w, int64_t in, float* out) {
  switch (type) {
    case QuantType::kF32:
      std::memcpy(out, w, static_cast<std::size_t>(in) * sizeof(float));
      return;
    case QuantType::kF16:
      dequantize_row_f16(w, in, out);
      return;
    case QuantType::kQ8_0:
      dequantize_row_q8_0(w, in, out);
      return;
    case QuantType::kQ4_1:
      dequantize_row_q4_1(w, in, out);
      return;
  }
}

}  // namespace

void quant_matmul(const QuantMatmulParams& p) {
  const int64_t in = p.in;
  const int64_t out = p.out;
  const int64_t n = p.n;
  const int64_t row_bytes = quant_row_bytes(p.w_type, in);
  const auto* w = static_cast<const uint8_t*>(p.w);
  if (in == 0) {
    std::memset(p.y, 0, static_cast<std::size_t>(n * out) * sizeof(float));
    return;
  }

  if (n >= kScratchRows) {
    // Pairs of W rows dequantised once, then 2 x 4 tiles over the rows of x.
    const int64_t pairs = (out + 1) / 2;
#pragma omp parallel
    {
      std::vector<float> rows(static_cast<std::size_t>(2 * in));
      float* w0 = rows.data();
      float* w1 = rows.data() + in;
#pragma omp for schedule(static)
      for (int64_t pair = 0; pair < pairs; ++pair) {
        const int64_t o = 2 * pair;
        dequantize_row(p.w_type, w + o * row_bytes, in, w0);
        if (o + 1 == out) {
          for (int64_t r = 0; r < n; ++r) p.y[r * out + o] = dot_f32(w0, p.x + r * in, in);
          continue;
        }
        dequantize_row(p.w_type, w + (o + 1) * row_bytes, in, w1);
        int64_t r = 0;
        for (; r + 4 <= n; r += 4) tile_2x4(w0, w1, p.x + r * in, in, p.y + r * out + o, out);
        for (; r < n; ++r) {
          p.y[r * out + o] = dot_f32(w0, p.x + r * in, in);
          p.y[r * out + o + 1] = dot_f32(w1, p.x + r * in, in);
        }
      }
    }
    return;
  }

  const int64_t blocks = in / kBlock;
  std::vector<float> xsum;
  if (p.w_type == QuantType::kQ4_1) {
    xsum.assign(static_cast<std::size_t>(n * blocks), 0.0f);
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t b = 0; b < blocks; ++b) {
        float s = 0.0f;
        for (int64_t j = 0; j < kBlock; ++j) s += p.x[r * in + b * kBlock + j];
        xsum[r * blocks + b] = s;
      }
    }
  }
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < out; ++o) {
    const uint8_t* wrow = w + o * row_bytes;
    for (int64_t r = 0; r < n; ++r) {
      const float* x = p.x + r * in;
      float v = 0.0f;
      switch (p.w_type) {
        case QuantType::kF32:
          v = dot_f32(reinterpret_cast<const float*>(wrow), x, in);
          break;
        case QuantType::kF16:
          v = dot_f16(wrow, x, in);
          break;
        case QuantType::kQ8_0:
          v = dot_q8_0(wrow, x, blocks);
          break;
        case QuantType::kQ4_1:
          v = dot_q4_1(wrow, x, xsum.data() + r * blocks, blocks);
          break;
      }
      p.y[r * out + o] = v;
    }
  }
}

}  // namespace hybrec::kernels::cpu
