// CUDA backend of attention (hybrec/kernels/attention.h has the contract).
// Plain C++ so api/attention.cc can include it without CUDA headers; `stream`
// is a cudaStream_t. Called after argument checks: head_dim is 32, 64 or 128,
// seq_len is at most 512, the pointers are non-null and 16-byte aligned, and
// `scale` is the effective scale.
#pragma once

#include "hybrec/kernels/attention.h"

namespace hybrec::kernels::cuda {

void attention_forward(const AttentionParams& params, float scale, void* stream);
void attention_backward(const AttentionParams& params, float scale, void* stream);
// Called with head_dim <= kMaxDecodeHeadDimCuda and batch > 0; any pointer
// alignment. The kernel clamps lengths to [0, max_len].
void attention_decode_forward(const AttentionDecodeParams& params, float scale, void* stream);

}  // namespace hybrec::kernels::cuda
