// Int8 activations for the Q8_0 / Q4_1 products (hybrec/kernels/
// quant_matmul.h has the arithmetic): the quantiser and the integer block
// dots, AVX2 and a portable scalar path that computes the same integers.
//
// Tiles: R consecutive W rows against C consecutive rows of x. Each W block
// is loaded (and for Q4_1 its nibbles unpacked) once per tile and each x
// block once per W row group, and the R x C sums are independent chains, so
// the FMA latency is hidden without splitting one output's sum: every
// output keeps the block order llama.cpp's vec_dot uses (one 8-lane
// accumulator over the blocks, then a horizontal sum, plus for Q4_1 a
// separate FMA chain of m_w * s), which is why the result does not depend
// on R, C, the range or the thread count.
#include "cpu/quant_q8.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "hybrec/kernels/quant.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define HYBREC_Q8_AVX2 1
#endif

namespace hybrec::kernels::cpu {
namespace {

constexpr int64_t kBlock = 32;

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

#ifdef HYBREC_Q8_AVX2
inline float fp16(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }
inline float round_fp16(float v) { return _cvtsh_ss(_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT)); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void quantize_block(const float* x, Q8Block* out) {
  const __m256 v[4] = {_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), _mm256_loadu_ps(x + 16),
                       _mm256_loadu_ps(x + 24)};
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 mx = _mm256_andnot_ps(sign, v[0]);
  for (int i = 1; i < 4; ++i) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, v[i]));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float amax = _mm_cvtss_f32(m4);
  const float d = amax / 127.0f;
  const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
  __m256i q[4];
  for (int i = 0; i < 4; ++i) {
    q[i] = _mm256_cvtps_epi32(
        _mm256_round_ps(_mm256_mul_ps(v[i], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  const __m256i total =
      _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
  __m128i t = _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
  // The packs work per 128-bit lane, leaving the 4-byte groups in the order
  // 0 2 4 6 1 3 5 7; the permute puts them back.
  const __m256i p16a = _mm256_packs_epi32(q[0], q[1]);
  const __m256i p16b = _mm256_packs_epi32(q[2], q[3]);
  const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
  const __m256i ordered =
      _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out->q), ordered);
  out->d = round_fp16(d);
  out->s = round_fp16(d * static_cast<float>(_mm_cvtsi128_si32(t)));
}

// 8 int32 lanes, lane k the sum over bytes 4k..4k+3 of u * s (u unsigned,
// s signed): maddubs pairs bytes into int16 (|15 * 127 * 2| and |128 * 127 * 2|
// fit), madd with ones pairs those into int32.
inline __m256 dot_lanes(__m256i u, __m256i s) {
  const __m256i pairs = _mm256_maddubs_epi16(u, s);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// s4[4 b + c] = x[c * blocks + b].s: the m_w * s sums of the C outputs of a
// W row run as the lanes of one 128-bit FMA chain rather than C scalar ones
// (with 2 x 4 tiles, eight scalar chains did not fit in the registers next
// to the eight accumulators).
template <int R, int C>
void tile_q4_1(const uint8_t* w, int64_t row_bytes, const Q8Block* x, int64_t blocks,
               const float* s4, float* y, int64_t ldy) {
  __m256 acc[R][C];
  __m128 offset[R];
  for (int r = 0; r < R; ++r) {
    offset[r] = _mm_setzero_ps();
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  const __m256i shifts = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
  const __m256i mask = _mm256_set1_epi8(0x0F);
  for (int64_t b = 0; b < blocks; ++b) {
    const __m128 s = _mm_loadu_ps(s4 + 4 * b);
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = w + r * row_bytes + b * kQ4_1BlockBytes;
      // d and m widened together; the 16 nibble bytes in both 128-bit
      // lanes, the high lane shifted by 4: low nibbles then high nibbles.
      int32_t dm_bits;
      std::memcpy(&dm_bits, blk, sizeof dm_bits);
      const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128(dm_bits));
      offset[r] = _mm_fmadd_ps(_mm_permute_ps(dm, 0x55), s, offset[r]);
      const __m256 dw = _mm256_broadcastss_ps(dm);
      const __m256i raw =
          _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 4)));
      const __m256i qw = _mm256_and_si256(_mm256_srlv_epi32(raw, shifts), mask);
      for (int c = 0; c < C; ++c) {
        const Q8Block& xb = x[c * blocks + b];
        const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.q));
        const __m256 scale = _mm256_mul_ps(dw, _mm256_broadcast_ss(&xb.d));
        acc[r][c] = _mm256_fmadd_ps(scale, dot_lanes(qw, qx), acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    float off[4];
    _mm_storeu_ps(off, offset[r]);
    for (int c = 0; c < C; ++c) y[c * ldy + r] = hsum(acc[r][c]) + off[c];
  }
}

template <int R, int C>
void tile_q8_0(const uint8_t* w, int64_t row_bytes, const Q8Block* x, int64_t blocks,
               const float* /*s4: Q8_0 has no offset*/, float* y, int64_t ldy) {
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = w + r * row_bytes + b * kQ8_0BlockBytes;
      const float dw = fp16(blk);
      const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
      // maddubs wants one unsigned side: |qw| against q with qw's sign.
      const __m256i abs_w = _mm256_sign_epi8(qw, qw);
      for (int c = 0; c < C; ++c) {
        const Q8Block& xb = x[c * blocks + b];
        const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.q));
        acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xb.d),
                                    dot_lanes(abs_w, _mm256_sign_epi8(qx, qw)), acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) y[c * ldy + r] = hsum(acc[r][c]);
}
#else
inline float fp16(const uint8_t* p) { return half_to_float(load_u16(p)); }
inline float round_fp16(float v) { return half_to_float(float_to_half(v)); }

void quantize_block(const float* x, Q8Block* out) {
  float amax = 0.0f;
  for (int64_t j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  int32_t sum = 0;
  for (int64_t j = 0; j < kBlock; ++j) {
    // nearbyint rounds half to even in the default rounding mode, as the
    // AVX2 path's _mm256_round_ps does.
    const auto q = static_cast<int32_t>(std::nearbyint(x[j] * id));
    out->q[j] = static_cast<int8_t>(q);
    sum += q;
  }
  out->d = round_fp16(d);
  out->s = round_fp16(d * static_cast<float>(sum));
}

// The same integers; the float sums in the natural order (a portable build
// is not expected to match the AVX2 build's last bits).
template <int R, int C>
void tile_q4_1(const uint8_t* w, int64_t row_bytes, const Q8Block* x, int64_t blocks,
               const float* /*s4*/, float* y, int64_t ldy) {
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      float total = 0.0f;
      float offset = 0.0f;
      for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t* blk = w + r * row_bytes + b * kQ4_1BlockBytes;
        const Q8Block& xb = x[c * blocks + b];
        int32_t dot = 0;
        for (int j = 0; j < 16; ++j) {
          dot += (blk[4 + j] & 0x0F) * xb.q[j] + (blk[4 + j] >> 4) * xb.q[j + 16];
        }
        total += fp16(blk) * xb.d * static_cast<float>(dot);
        offset += fp16(blk + 2) * xb.s;
      }
      y[c * ldy + r] = total + offset;
    }
  }
}

template <int R, int C>
void tile_q8_0(const uint8_t* w, int64_t row_bytes, const Q8Block* x, int64_t blocks,
               const float* /*s4*/, float* y, int64_t ldy) {
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      float total = 0.0f;
      for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t* blk = w + r * row_bytes + b * kQ8_0BlockBytes;
        const Q8Block& xb = x[c * blocks + b];
        int32_t dot = 0;
        for (int j = 0; j < 32; ++j) dot += static_cast<int8_t>(blk[2 + j]) * xb.q[j];
        total += fp16(blk) * xb.d * static_cast<float>(dot);
      }
      y[c * ldy + r] = total;
    }
  }
}
#endif

using TileFn = void (*)(const uint8_t*, int64_t, const Q8Block*, int64_t, const float*, float*,
                        int64_t);

template <int R, int C>
struct Q4_1Tile {
  static constexpr TileFn fn = tile_q4_1<R, C>;
};
template <int R, int C>
struct Q8_0Tile {
  static constexpr TileFn fn = tile_q8_0<R, C>;
};

// The tile for `rows` W rows (1, 2 or 4) and `cols` rows of x (1 to 4).
template <template <int, int> class Tile>
TileFn pick(int rows, int cols) {
  static constexpr TileFn table[3][4] = {
      {Tile<1, 1>::fn, Tile<1, 2>::fn, Tile<1, 3>::fn, Tile<1, 4>::fn},
      {Tile<2, 1>::fn, Tile<2, 2>::fn, Tile<2, 3>::fn, Tile<2, 4>::fn},
      {Tile<4, 1>::fn, Tile<4, 2>::fn, Tile<4, 3>::fn, Tile<4, 4>::fn}};
  return table[rows == 4 ? 2 : rows - 1][cols - 1];
}

// Decode streams every weight once from DRAM: on the 2-core VM the
// hardware prefetcher alone reached 1.4 GB/s, about half what a plain
// streaming read gets there; asking for the bytes kPrefetchBytes ahead of
// each tile brought the product to the streaming rate (2.2-2.9 GB/s,
// in=576 Q4_1 rows, 70 MB matrix).
constexpr int64_t kPrefetchBytes = 16384;

inline void prefetch_ahead(const uint8_t* tile, int64_t bytes, const uint8_t* matrix_end) {
#ifdef HYBREC_Q8_AVX2
  const uint8_t* stop = std::min(tile + kPrefetchBytes + bytes, matrix_end);
  for (const uint8_t* a = tile + kPrefetchBytes; a < stop; a += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(a), _MM_HINT_T0);
  }
#else
  (void)tile, (void)bytes, (void)matrix_end;
#endif
}

}  // namespace

void quantize_q8(const float* x, int64_t n, int64_t in, Q8Block* out) {
  const int64_t blocks = n * (in / kBlock);
  for (int64_t b = 0; b < blocks; ++b) quantize_block(x + b * kBlock, out + b);
}

void q8_matmul_range(const QuantMatmulParams& p, const Q8Block* xq, int64_t begin, int64_t end) {
  const int64_t blocks = p.in / kBlock;
  const int64_t row_bytes = quant_row_bytes(p.w_type, p.in);
  const auto* w = static_cast<const uint8_t*>(p.w);
  const bool q4 = p.w_type == QuantType::kQ4_1;
  // One row of x (decode): four W rows per tile for independent chains.
  // More rows: two W rows by four x rows, eight accumulators in registers.
  const int64_t max_rows = p.n == 1 ? 4 : 2;
  // The s of each group of 4 rows of x, packed for tile_q4_1.
  std::vector<float> s4(q4 ? static_cast<std::size_t>((p.n + 3) / 4 * blocks * 4) : 0, 0.0f);
  for (int64_t r = 0; q4 && r < p.n; ++r) {
    for (int64_t b = 0; b < blocks; ++b)
      s4[(r / 4 * blocks + b) * 4 + r % 4] = xq[r * blocks + b].s;
  }
  for (int64_t o = begin; o < end;) {
    const int64_t left = end - o;
    const int rows = static_cast<int>(left >= max_rows ? max_rows : (left >= 2 ? 2 : 1));
    prefetch_ahead(w + o * row_bytes, rows * row_bytes, w + p.out * row_bytes);
    for (int64_t r = 0; r < p.n; r += 4) {
      const int cols = static_cast<int>(std::min<int64_t>(p.n - r, 4));
      const TileFn fn = q4 ? pick<Q4_1Tile>(rows, cols) : pick<Q8_0Tile>(rows, cols);
      fn(w + o * row_bytes, row_bytes, xq + r * blocks, blocks,
         q4 ? s4.data() + r / 4 * blocks * 4 : nullptr, p.y + r * p.out + o, p.out);
    }
    o += rows;
  }
}

}  // namespace hybrec::kernels::cpu
