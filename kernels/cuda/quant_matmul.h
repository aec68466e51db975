// CUDA backend of the quantised matrix products (hybrec/kernels/quant_matmul.h
// has the contract). Plain C++ so api/quant_matmul.cc can include it without
// CUDA headers; `stream` is a cudaStream_t. Called after argument checks:
// sizes are valid, pointers non-null (device pointers), n > 0 and out > 0.
// Compiled, not yet run on a GPU.
#pragma once

#include "hybrec/kernels/quant_matmul.h"

namespace hybrec::kernels::cuda {

void quant_matmul(const QuantMatmulParams& params, void* stream);

}  // namespace hybrec::kernels::cuda
