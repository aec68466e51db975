// One post-norm transformer block, the layer that the recommender's history
// encoder (trained), the BERT text encoder (inference) and a causal decoder
// (with a KV cache, kv_cache.h) all stack:
//   x1 = LN1(x + OutProj(MHA(Q(x), K(x), V(x))))
//   y  = LN2(x1 + W2 GELU(W1 x1))
// over packed rows (packed_rows.h): x and y are [rows, dim], attention runs
// per length group, each sequence attending over its own positions (and,
// when causal, only over those not after the query).
//
// Every step is a kernels-library op on the `Device` passed in, and every
// array (weights, inputs, outputs and the activation structs below) lives on
// that device: the same code runs on the CPU and the CUDA backend. The
// activation structs hold kernels::Buffers that are sized on first use and
// grown only when a batch with more rows comes, never freed per step; each
// serves one shape and one device (its capacity counts rows of that shape).
//
// On the CPU the op order is fixed, and is the history encoder's former
// layer's (trainer/model/encoder_layer.cc until it moved here), so the
// trainer's results are bit for bit what they were: Q, K, V as three GEMMs,
// r1 = OutProj(att) + x, x1 = LN1(r1), r2 = W2 GELU(W1 x1) + x1, y = LN2(r2);
// the backward sums the input gradient as ((dr1 + dx_q) + dx_k) + dx_v.
#pragma once

#include <cstdint>

#include "hybrec/kernels/device.h"
#include "trainer/nn/packed_rows.h"

namespace hybrec::nn {

struct BlockShape {
  int64_t dim = 0;      // model width d, a multiple of heads
  int64_t heads = 0;    // attention heads; head_dim = dim / heads
  int64_t hidden = 0;   // feed-forward width F
  float eps = 1e-5f;    // both layer norms' epsilon
  bool causal = false;  // position i attends only to positions <= i of its sequence

  int64_t head_dim() const { return dim / heads; }
};

// Pointers to one block's tensors (its parameters, or their gradients), on
// the block's device. Linear weights are [out, in] (PyTorch's nn.Linear):
// q_w, k_w, v_w, out_w [d, d]; ffn1_w [F, d]; ffn2_w [d, F]; biases and layer
// norm gains/shifts are vectors of the output width. A fused [3d, d] QKV
// weight with the Q rows first is q_w = qkv, k_w = qkv + d*d, v_w = qkv + 2*d*d.
template <typename T>
struct BlockTensors {
  T* q_w = nullptr;
  T* q_b = nullptr;
  T* k_w = nullptr;
  T* k_b = nullptr;
  T* v_w = nullptr;
  T* v_b = nullptr;
  T* out_w = nullptr;
  T* out_b = nullptr;
  T* ln1_g = nullptr;
  T* ln1_b = nullptr;
  T* ffn1_w = nullptr;
  T* ffn1_b = nullptr;
  T* ffn2_w = nullptr;
  T* ffn2_b = nullptr;
  T* ln2_g = nullptr;
  T* ln2_b = nullptr;
};
using BlockWeights = BlockTensors<const float>;
using BlockGrads = BlockTensors<float>;

// Views a fused-QKV layout ([3d, d] weight, [3d] bias, Q then K then V) as
// the three projections.
template <typename T>
void set_fused_qkv(int64_t dim, T* qkv_w, T* qkv_b, BlockTensors<T>* t) {
  t->q_w = qkv_w;
  t->k_w = qkv_w + dim * dim;
  t->v_w = qkv_w + 2 * dim * dim;
  t->q_b = qkv_b;
  t->k_b = qkv_b + dim;
  t->v_b = qkv_b + 2 * dim;
}

// What the training forward keeps for the backward, over packed rows (each
// [rows, dim] unless noted); `out` is the block's output y. One per layer.
struct BlockActivations {
  kernels::Buffer<float> q, k, v, att, r1, x1, r2, out;
  kernels::Buffer<float> lse;                         // [rows, heads rounded up to 4]
  kernels::Buffer<float> mean1, rstd1, mean2, rstd2;  // [rows]
  kernels::Buffer<float> f1, g;                       // [rows, F]: W1 x1 + b1, GELU of it
  int64_t capacity = 0;                               // rows the buffers hold
  void reserve(const kernels::Device& device, const BlockShape& shape, int64_t rows);
};

// Scratch of the backward, shared by all layers of a stack.
struct BlockBackwardScratch {
  kernels::Buffer<float> d1, d2, dq, dk, dv;  // [rows, dim]
  kernels::Buffer<float> dh;                  // [rows, F]
  int64_t capacity = 0;
  void reserve(const kernels::Device& device, const BlockShape& shape, int64_t rows);
};

// Scratch of the inference forward, the prefill and the decode step, shared
// by all layers of a stack (nothing in it outlives a call).
struct BlockInferenceScratch {
  kernels::Buffer<float> q, k, v, att, r;  // [rows, dim]
  kernels::Buffer<float> lse;              // [rows, heads rounded up to 4]
  kernels::Buffer<float> ff;               // [rows, F]
  int64_t capacity = 0;
  void reserve(const kernels::Device& device, const BlockShape& shape, int64_t rows);
};

// Training forward: x [rows, dim] -> acts->out [rows, dim], saving in acts
// everything the backward needs. x must stay unchanged until the backward.
void block_forward(const kernels::Device& device, const BlockShape& shape, const BlockWeights& w,
                   const PackedRows& packed, const float* x, BlockActivations* acts);

// Backward of block_forward with the same x and acts, given dy [rows, dim],
// the gradient of acts.out. Parameter gradients are ACCUMULATED into g; dx
// [rows, dim] is OVERWRITTEN and may alias dy (dy is read before dx is
// written).
void block_backward(const kernels::Device& device, const BlockShape& shape, const BlockWeights& w,
                    const BlockGrads& g, const PackedRows& packed, const float* x,
                    const BlockActivations& acts, const float* dy, BlockBackwardScratch* scratch,
                    float* dx);

// Inference forward: y [rows, dim] = the block of x, keeping nothing for a
// backward. y may alias x (a stack can run in place). On the CPU, y is
// bit-identical to block_forward's acts->out.
void block_inference(const kernels::Device& device, const BlockShape& shape, const BlockWeights& w,
                     const PackedRows& packed, const float* x, BlockInferenceScratch* scratch,
                     float* y);

}  // namespace hybrec::nn
