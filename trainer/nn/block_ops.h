// Internal to trainer/nn: the short forms of the kernels calls that the
// block's forward, backward, prefill and decode share, so each of those reads
// as the list of its ops.
#pragma once

#include <cstdint>

#include "hybrec/kernels/attention.h"
#include "hybrec/kernels/dense.h"
#include "hybrec/kernels/device.h"
#include "trainer/nn/transformer_block.h"

namespace hybrec::nn {

// Throws naming the field when the shape is not usable.
void check_shape(const BlockShape& shape);
// Throws unless the groups tile [0, packed.rows) in order.
void check_packed(const PackedRows& packed);

// Out-projection, residual, LN1, feed-forward, residual, LN2 of n rows whose
// attention output is in scratch->att: y [n, dim] (may alias x).
void block_tail_inference(const kernels::Device& device, const BlockShape& shape,
                          const BlockWeights& w, int64_t n, const float* x,
                          BlockInferenceScratch* scratch, float* y);

// Grows *buffer to at least `count` elements (contents are not kept).
template <typename T>
void grow(const kernels::Device& device, int64_t count, kernels::Buffer<T>* buffer) {
  if (static_cast<int64_t>(buffer->size()) < count) {
    *buffer = kernels::Buffer<T>(device, static_cast<std::size_t>(count));
  }
}

inline kernels::LinearParams linear_params(int64_t n, int64_t in, int64_t out, const float* x,
                                           const float* weight) {
  kernels::LinearParams p;
  p.n = n;
  p.in_features = in;
  p.out_features = out;
  p.x = x;
  p.weight = weight;
  return p;
}

// y [n, out] = x [n, in] weight^T + bias.
inline void linear_forward(const kernels::Device& device, int64_t n, int64_t in, int64_t out,
                           const float* x, const float* weight, const float* bias, float* y) {
  kernels::LinearParams p = linear_params(n, in, out, x, weight);
  p.bias = bias;
  p.y = y;
  kernels::linear_forward(device, p);
}

// dx overwritten; dweight, dbias accumulated.
inline void linear_backward(const kernels::Device& device, int64_t n, int64_t in, int64_t out,
                            const float* x, const float* weight, const float* dy, float* dx,
                            float* dweight, float* dbias) {
  kernels::LinearParams p = linear_params(n, in, out, x, weight);
  p.dy = dy;
  p.dx = dx;
  p.dweight = dweight;
  p.dbias = dbias;
  kernels::linear_backward(device, p);
}

// mean and rstd may be null (inference); y may alias x then.
inline void layer_norm_forward(const kernels::Device& device, const BlockShape& s, int64_t n,
                               const float* x, const float* gamma, const float* beta, float* y,
                               float* mean, float* rstd) {
  kernels::LayerNormParams p;
  p.n = n;
  p.dim = s.dim;
  p.eps = s.eps;
  p.x = x;
  p.gamma = gamma;
  p.beta = beta;
  p.y = y;
  p.mean = mean;
  p.rstd = rstd;
  kernels::layer_norm_forward(device, p);
}

// dx (may alias dy) overwritten; dgamma, dbeta accumulated.
inline void layer_norm_backward(const kernels::Device& device, const BlockShape& s, int64_t n,
                                const float* x, const float* gamma, const float* mean,
                                const float* rstd, const float* dy, float* dx, float* dgamma,
                                float* dbeta) {
  kernels::LayerNormParams p;
  p.n = n;
  p.dim = s.dim;
  p.eps = s.eps;
  p.x = x;
  p.gamma = gamma;
  // The kernel reads the saved statistics only; its struct has one field for
  // forward output and backward input.
  p.mean = const_cast<float*>(mean);
  p.rstd = const_cast<float*>(rstd);
  p.dy = dy;
  p.dx = dx;
  p.dgamma = dgamma;
  p.dbeta = dbeta;
  kernels::layer_norm_backward(device, p);
}

// Floats of lse per packed row: heads rounded up to a multiple of 4. A
// group's lse block starts at first_row * lse_stride, which keeps it 16-byte
// aligned (the CUDA attention requires that of every pointer) whatever row
// the group starts at; with a stride of `heads` a group starting at an odd
// row would be misaligned for 2 heads.
inline int64_t lse_stride(const BlockShape& s) { return (s.heads + 3) / 4 * 4; }

// The attention core of one length group: its rows of q, k, v and att are one
// [examples, len, heads, head_dim] block with no padding, its lse one
// [examples, heads, len] block at first_row * lse_stride.
inline kernels::AttentionParams group_attention(const BlockShape& s, const LengthGroup& grp,
                                                const float* q, const float* k, const float* v,
                                                float* att, float* lse) {
  const int64_t row = grp.first_row * s.dim;
  kernels::AttentionParams a;
  a.batch = grp.examples;
  a.seq_len = grp.len;
  a.heads = s.heads;
  a.head_dim = s.head_dim();
  a.causal = s.causal;
  a.q = q + row;
  a.k = k + row;
  a.v = v + row;
  a.out = att + row;
  a.lse = lse + grp.first_row * lse_stride(s);
  return a;
}

}  // namespace hybrec::nn
