// CUDA backend of the dense ops (hybrec/kernels/dense.h has the contract).
// Plain C++ so api/dense.cc can include it without CUDA headers; `stream` is
// a cudaStream_t. Called after argument checks: sizes are valid, required
// pointers are non-null and n > 0, except the losses, which also take n == 0
// (they still write loss = 0).
#pragma once

#include <cstdint>

#include "hybrec/kernels/dense.h"

namespace hybrec::kernels::cuda {

void linear_forward(const LinearParams& p, void* stream);
void linear_backward(const LinearParams& p, void* stream);
void layer_norm_forward(const LayerNormParams& p, void* stream);
void layer_norm_backward(const LayerNormParams& p, void* stream);
void gelu_forward(const float* x, int64_t count, float* y, void* stream);
void gelu_backward(const float* x, const float* dy, int64_t count, float* dx, void* stream);
void softmax_forward(const float* x, int64_t n, int64_t c, float* y, void* stream);
void softmax_backward(const float* y, const float* dy, int64_t n, int64_t c, float* dx,
                      void* stream);
void bce_with_logits_forward(const float* logits, const float* labels, const float* weights,
                             int64_t n, float* loss, void* stream);
void bce_with_logits_backward(const float* logits, const float* labels, const float* weights,
                              int64_t n, float dloss, float* dlogits, void* stream);
void sampled_softmax_loss_forward(const float* logits, const float* log_q, int64_t n, int64_t c,
                                  float* loss, void* stream);
void sampled_softmax_loss_backward(const float* logits, const float* log_q, int64_t n, int64_t c,
                                   float dloss, float* dlogits, void* stream);

}  // namespace hybrec::kernels::cuda
