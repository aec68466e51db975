// CPU backend of the bilinear ops (hybrec/kernels/bilinear.h has the
// contract). Called by api/bilinear.cc after argument checks: sizes are
// valid, batch / num_users > 0, required pointers are non-null and the
// exclusion offsets form valid CSR.
#pragma once

#include <cstdint>

#include "hybrec/kernels/bilinear.h"

namespace hybrec::kernels::cpu {

void bilinear_forward(const BilinearParams& p, float* z);
void bilinear_backward(const BilinearParams& p, const float* dz, float* du, float* dv, float* dw);
void fused_score_forward(const FusedScoreParams& p, float* out);
void fused_score_backward(const FusedScoreParams& p, const float* dout, float* dz, float* dg,
                          float* dlambda);
void all_items_topk(const AllItemsTopKParams<int32_t>& p);
void all_items_topk(const AllItemsTopKParams<int64_t>& p);

}  // namespace hybrec::kernels::cpu
