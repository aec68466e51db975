// CPU backend of the quantised matrix products (hybrec/kernels/quant_matmul.h
// has the contract). Called by api/quant_matmul.cc after argument checks:
// sizes are valid, pointers non-null, n > 0 and out > 0.
#pragma once

#include "hybrec/kernels/quant_matmul.h"

namespace hybrec::kernels::cpu {

void quant_matmul(const QuantMatmulParams& params);
// One thread, output features [begin, end) (0 <= begin <= end <= out).
void quant_matmul_range(const QuantMatmulParams& params, const Q8Block* xq, int64_t begin,
                        int64_t end);

}  // namespace hybrec::kernels::cpu
