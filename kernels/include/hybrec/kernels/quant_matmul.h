// Quantised matrix products: y[n, out] = x[n, in] * W^T where W [out, in] is
// stored as GGUF rows (one row per output feature, ggml's layout for a 2-D
// weight with ne = [in, out]) in F32, F16, Q8_0 or Q4_1 (hybrec/kernels/quant.h
// describes the block formats). The blocks are read as they lie in memory (a
// mapped model file) and dequantised in registers; W is never widened to a
// float copy.
//
// Contract
// - x [n, in] and y [n, out] are fp32, dense, row-major. y is OVERWRITTEN.
//   W is `out` rows of `row_bytes(w_type, in)` bytes each, packed, any
//   alignment. No output may overlap an input.
// - For Q8_0 and Q4_1, in must be a multiple of 32 (the block size).
// - n, in, out must be >= 0; n == 0 or out == 0 writes nothing and the
//   pointers may then be null. in == 0 writes zeros. Anything else invalid
//   (negative size, in not a multiple of the block, a null required pointer)
//   throws hybrec::Error naming the function, the argument and its value.
// - F32 and F16 weights: each y[r, o] is the fp32 dot of x's row r and W's
//   row o (widened), in an order that differs from a naive loop; relative to
//   a double reference the error is a few fp32 roundings of sum |w * x|.
// - Q8_0 and Q4_1 weights: x is first quantised to int8 per block of 32, as
//   llama.cpp's CPU backend does (its Q8_0 / Q8_1 activations), and each
//   block is an integer dot product:
//     amax = max |x_j| over the block, d = amax / 127 (float),
//     q_j = round_half_even(x_j * (127 / amax)) (0 when amax is 0),
//     s = d * sum_j q_j, and d and s are then rounded to fp16;
//     Q8_0 block: d_w * d * sum_j qw_j q_j,
//     Q4_1 block: d_w * d * sum_j qw_j q_j + m_w * s.
//   The integer sums are exact and equal llama.cpp's, so the products agree
//   with it to fp32 rounding. Relative to dequantise-then-fp32 the error is
//   the activation rounding: per element |x_j - d q_j| <= e = amax / 254 +
//   127 |d - fp16(d)| (e = amax (1/254 + 2^-11) when d is a normal fp16),
//   per block |s - sum_j x_j| <= 32 e + |s| 2^-11. tests/kernels/
//   quant_matmul_test.cc checks both sides: against an int8 reference
//   written from this comment to fp32 rounding, and against
//   dequantise-then-fp32 within sum_j |w_j| e (+ |m_w| times the s bound).
//   x must be finite.
//
// Backends (quant_matmul_supports)
//   CPU   every type and size. AVX2 + FMA inner loops when compiled with
//         __AVX2__ and __FMA__ (the default -march=x86-64-v3), a portable
//         scalar loop otherwise; OpenMP over output rows. Block types: x is
//         quantised once per call, then tiles of up to 4 W rows x 4 rows of x
//         share each unpacked block (maddubs / madd integer dots), the W
//         bytes prefetched 16 KiB ahead (decode streams W from DRAM). F32/F16:
//         for n >= 4 each thread widens pairs of W rows once per call into a
//         float scratch and reuses them across the rows of x.
//   CUDA  every type; n <= 65535 and out < 2^31 (the grid is out x n);
//         one thread block per (output feature, row of x), each thread
//         quantising the x blocks it reads; warps reduce in a fixed order
//         (deterministic). Compiled, not yet run on a GPU.
//
// The host pieces of the CPU backend are public too, for callers that run
// several products in one OpenMP region of their own (the Llama decoder: one
// region per token rather than one per product): quantize_activations, then
// quant_matmul_range on each thread's share of the output features.
#pragma once

#include <cstdint>

#include "hybrec/kernels/device.h"

namespace hybrec::kernels {

// Weight encodings the op reads (ids are ggml's, so a GGUF tensor's type
// casts directly).
enum class QuantType : uint32_t { kF32 = 0, kF16 = 1, kQ4_1 = 3, kQ8_0 = 8 };

// "F32", "F16", "Q4_1", "Q8_0"; "type id N" for anything else.
const char* quant_type_name(QuantType type);
// Bytes of one W row of `in` elements (in a multiple of the block size for
// the block formats; otherwise throws naming the type and in).
int64_t quant_row_bytes(QuantType type, int64_t in);

struct QuantMatmulParams {
  int64_t n = 0;    // rows of x and y
  int64_t in = 0;   // in_features: length of a row of x and of W
  int64_t out = 0;  // out_features: rows of W, columns of y
  QuantType w_type = QuantType::kF32;
  const void* w = nullptr;   // out rows of quant_row_bytes(w_type, in) bytes
  const float* x = nullptr;  // [n, in]
  float* y = nullptr;        // [n, out], overwritten
};

// Whether `device`'s backend runs these sizes and this type.
bool quant_matmul_supports(const Device& device, const QuantMatmulParams& params);

// y <- x * W^T. See the file comment.
void quant_matmul(const Device& device, const QuantMatmulParams& params);

// One block of 32 quantised activations: ggml's block_q8_1 with d and s
// kept as the floats their fp16 values equal.
struct Q8Block {
  float d = 0.0f;  // fp16(amax / 127)
  float s = 0.0f;  // fp16(amax / 127 * sum(q))
  int8_t q[32] = {};
};

// HOST ONLY. x [n, in] (in a multiple of 32, x finite) to n * in / 32
// blocks, row-major, quantised as the file comment says. Overwrites `out`.
void quantize_activations(const float* x, int64_t n, int64_t in, Q8Block* out);

// HOST ONLY, on the calling thread (no OpenMP region): y[r, o] for output
// features o in [begin, end) and every row r; the rest of y is untouched.
// For Q8_0 and Q4_1, xq must be quantize_activations(params.x) and params.x
// is not read; F32 and F16 read params.x and xq may be null. For Q8_0 and
// Q4_1 the result is bit for bit quant_matmul's on the CPU, whatever the
// range (each output's sum is one fixed chain); for F32 and F16 it may
// differ in the last bits (rows are paired from `begin`). Throws like
// quant_matmul, and when 0 <= begin <= end <= out does not hold.
void quant_matmul_range(const QuantMatmulParams& params, const Q8Block* xq, int64_t begin,
                        int64_t end);

}  // namespace hybrec::kernels
