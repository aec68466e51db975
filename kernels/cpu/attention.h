// CPU backend of attention (hybrec/kernels/attention.h has the contract).
// Called by api/attention.cc after argument checks: sizes are positive, the
// pointers the op needs are non-null and `scale` is the effective scale.
#pragma once

#include "hybrec/kernels/attention.h"

namespace hybrec::kernels::cpu {

void attention_forward(const AttentionParams& params, float scale);
void attention_backward(const AttentionParams& params, float scale);
// Clamps lengths to [0, max_len] (the api has checked them when asked to).
void attention_decode_forward(const AttentionDecodeParams& params, float scale);

}  // namespace hybrec::kernels::cpu
