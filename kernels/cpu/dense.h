// CPU backend of the dense ops (hybrec/kernels/dense.h has the contract).
// Called by api/dense.cc after argument checks: sizes are valid, required
// pointers are non-null and n > 0, except the losses, which also take n == 0
// (they still write loss = 0).
#pragma once

#include <cstdint>

#include "hybrec/kernels/dense.h"

namespace hybrec::kernels::cpu {

void linear_forward(const LinearParams& p);
void linear_backward(const LinearParams& p);
void layer_norm_forward(const LayerNormParams& p);
void layer_norm_backward(const LayerNormParams& p);
void gelu_forward(const float* x, int64_t count, float* y);
void gelu_backward(const float* x, const float* dy, int64_t count, float* dx);
void softmax_forward(const float* x, int64_t n, int64_t c, float* y);
void softmax_backward(const float* y, const float* dy, int64_t n, int64_t c, float* dx);
void bce_with_logits_forward(const float* logits, const float* labels, const float* weights,
                             int64_t n, float* loss);
void bce_with_logits_backward(const float* logits, const float* labels, const float* weights,
                              int64_t n, float dloss, float* dlogits);
void sampled_softmax_loss_forward(const float* logits, const float* log_q, int64_t n, int64_t c,
                                  float* loss);
void sampled_softmax_loss_backward(const float* logits, const float* log_q, int64_t n, int64_t c,
                                   float dloss, float* dlogits);

}  // namespace hybrec::kernels::cpu
