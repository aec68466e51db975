// Dequantisation of ggml's block formats (the weights of GGUF model files)
// to float32: the host reference for the quantised ops to come.
//
// HOST ONLY for now: these are plain CPU functions taking host pointers and
// no Device or stream. The quantised matrix-vector product that reads these
// blocks on the GPU will add the CUDA side (and a Device-taking API) and be
// checked against these functions.
//
// Formats, as ggml defines them (little-endian, blocks packed without
// padding, fp16 = IEEE 754 binary16):
//   F16    2 bytes per element.
//   Q8_0   blocks of 32 elements, 34 bytes: fp16 scale d, then 32 int8 q;
//          element i = d * q[i].
//   Q4_1   blocks of 32 elements, 20 bytes: fp16 scale d, fp16 minimum m,
//          then 16 bytes of nibbles; element j (0..15) is the low nibble of
//          byte j and element j + 16 its high nibble; element = d * q + m.
// The arithmetic is float, as in ggml's reference: d * q, then for Q4_1 + m.
// d * q is always exact in float (an fp16 d has an 11-bit significand, q at
// most 8 bits), so Q8_0 is exact and Q4_1 rounds once, in the add, whether
// or not the compiler fuses the multiply-add into an FMA.
//
// Every function OVERWRITES out[0, n). n must be >= 0 and, for the block
// formats, a multiple of the block size (32); otherwise hybrec::Error names
// the function and n. n = 0 writes nothing (the pointers may then be null).
// `blocks` and `out` must not overlap.
#pragma once

#include <cstdint>

namespace hybrec::kernels {

inline constexpr int64_t kQ8_0BlockElems = 32;
inline constexpr int64_t kQ8_0BlockBytes = 34;
inline constexpr int64_t kQ4_1BlockElems = 32;
inline constexpr int64_t kQ4_1BlockBytes = 20;

// One IEEE binary16 value widened exactly to float (subnormals, inf and NaN
// included).
float half_to_float(uint16_t h);
// A float narrowed to binary16, rounding to nearest with ties to even (as
// F16C's vcvtps2ph does): beyond the largest half it gives inf, below the
// smallest subnormal +-0, and NaN a quiet NaN of the same sign.
uint16_t float_to_half(float f);

// n fp16 values (2n bytes at `halves`, any alignment) to float.
void dequantize_row_f16(const void* halves, int64_t n, float* out);
// n / 32 Q8_0 blocks (34 bytes each, any alignment) to n floats.
void dequantize_row_q8_0(const void* blocks, int64_t n, float* out);
// n / 32 Q4_1 blocks (20 bytes each, any alignment) to n floats.
void dequantize_row_q4_1(const void* blocks, int64_t n, float* out);

}  // namespace hybrec::kernels
