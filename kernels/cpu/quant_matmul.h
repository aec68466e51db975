// CPU backend of the quantised matrix products (hybrec/kernels/quant_matmul.h
// has the contract). Called by api/quant_matmul.cc after argument checks:
// sizes are valid, pointers non-null, n > 0 and out > 0.
#pragma once

#include "hybrec/kernels/quant_matmul.h"

namespace hybrec::kernels::cpu {

void quant_matmul(const QuantMatmulParams& params);

}  // namespace hybrec::kernels::cpu
