// CUDA backend of the bilinear ops (hybrec/kernels/bilinear.h has the
// contract). Plain C++ so api/bilinear.cc can include it without CUDA
// headers; `stream` is a cudaStream_t. Called after argument checks: sizes
// are valid, batch / num_users > 0 and required pointers are non-null. The
// top-k validates the exclusion lists itself (they live on the device).
#pragma once

#include <cstdint>

#include "hybrec/kernels/bilinear.h"

namespace hybrec::kernels::cuda {

// The largest k the CUDA top-k supports: k plus one scan step of candidates
// must fit the per-user shared-memory buffer.
constexpr int64_t kAllItemsTopKMaxK = 1024;

void bilinear_forward(const BilinearParams& p, float* z, void* stream);
void bilinear_backward(const BilinearParams& p, const float* dz, float* du, float* dv, float* dw,
                       void* stream);
void fused_score_forward(const FusedScoreParams& p, float* out, void* stream);
void fused_score_backward(const FusedScoreParams& p, const float* dout, float* dz, float* dg,
                          float* dlambda, void* stream);
void all_items_topk(const AllItemsTopKParams<int32_t>& p, bool check_bounds, void* stream);
void all_items_topk(const AllItemsTopKParams<int64_t>& p, bool check_bounds, void* stream);

}  // namespace hybrec::kernels::cuda
