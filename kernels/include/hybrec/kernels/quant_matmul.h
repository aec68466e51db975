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
// - Each y[r, o] is the fp32 dot of x's row r and W's dequantised row o; the
//   order of the sum differs from a naive loop. Q4_1 blocks are summed as
//   d * sum(q * x) + m * sum(x) (the algebraically equal form llama.cpp uses),
//   so relative to a dequantise-then-fp32 reference the error is a few fp32
//   roundings of sum |w * x|: tests/kernels/quant_matmul_test.cc checks
//   |y - ref| <= 1e-5 * sum_j |w_j x_j| + 1e-6, ref in double.
//
// Backends (quant_matmul_supports)
//   CPU   every type and size. AVX2 + FMA inner loops when compiled with
//         __AVX2__ and __FMA__ (the default -march=x86-64-v3), a portable
//         scalar loop otherwise; OpenMP over output rows. For n >= 4 each
//         thread dequantises pairs of W rows once per call into a 2 x `in`
//         float scratch and reuses them across the rows of x; for n < 4 the
//         blocks are dequantised in registers inside the dot product.
//   CUDA  every type; n <= 65535 and out < 2^31 (the grid is out x n);
//         one thread block per (output feature, row of x), warps reduce in a
//         fixed order (deterministic).
//         Compiled, not yet run on a GPU.
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

}  // namespace hybrec::kernels
