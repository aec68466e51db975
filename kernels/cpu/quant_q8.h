// CPU int8-activation pieces of the quantised matrix products
// (hybrec/kernels/quant_matmul.h has the contract). Called after argument
// checks: in a positive multiple of 32, pointers valid, w_type Q8_0 or Q4_1
// for q8_matmul_range.
#pragma once

#include <cstdint>

#include "hybrec/kernels/quant_matmul.h"

namespace hybrec::kernels::cpu {

void quantize_q8(const float* x, int64_t n, int64_t in, Q8Block* out);
// y[r, o] for o in [begin, end), every row r, from xq (n * in / 32 blocks).
void q8_matmul_range(const QuantMatmulParams& p, const Q8Block* xq, int64_t begin, int64_t end);

}  // namespace hybrec::kernels::cpu
