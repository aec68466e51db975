// Multi-head self-attention core: softmax(scale * Q K^T + mask) V and its
// backward, for the Q/K/V that a fused QKV linear produced (the projections
// themselves are the dense family's job).
//
// Layouts (row-major, float32):
//   q, k, v, out, dout, dq, dk, dv   [batch, seq_len, heads, head_dim]
//   lse                              [batch, heads, seq_len]
//   key_padding_mask                 [batch, seq_len] uint8, nonzero = padded key
// So for one (batch b, head h) the rows of q are head_dim floats apart by
// heads * head_dim: the natural output of a fused QKV linear, read in place.
//
// Semantics. Query i of sequence b attends key j when key j is not padded
// (key_padding_mask[b, j] == 0, PyTorch's convention) and, when causal, j <= i.
// Padding masks keys only: a padded query position still gets an output (which
// callers normally ignore), as in PyTorch. A batch of sequences of different
// lengths is expressed with the mask. A query whose keys are all masked (all
// padded, or causal with padded leading keys) gets out = 0, lse = -inf and zero
// gradients -- never NaN.
//
// lse[b, h, i] = log(sum_j exp(s_ij)) over the unmasked keys, s = scale * q_i.k_j,
// natural log. The forward saves it so the backward can recompute the
// probabilities without an L x L matrix: P_ij = exp(s_ij - lse_i).
//
// Backward. Given dout, q, k, v, out and lse (as written by attention_forward
// with the same params), dq, dk and dv are OVERWRITTEN (not accumulated):
//   D_i = rowsum(dout_i * out_i), dV = P^T dO, dP = dO V^T,
//   dS = P * (dP - D), dQ = scale * dS K, dK = scale * dS^T Q.
//
// Aliasing: outputs must not overlap any input or each other.
//
// Support (attention_supports):
//   CPU   any head_dim >= 1 and seq_len >= 1. It keeps one seq_len x seq_len
//         float scratch per OpenMP thread (two in the backward).
//   CUDA  head_dim 32, 64 or 128 and seq_len 1..512; every pointer 16-byte
//         aligned (cudaMalloc'd buffers are). The kernels are tiled
//         flash-attention style: nothing of size seq_len x seq_len is stored.
//         The backward allocates batch*heads*seq_len floats of temporary
//         memory on the stream (cudaMallocAsync). Results are deterministic.
// The api throws hybrec::Error naming the offending value for unsupported or
// invalid parameters.
//
// Tolerance: CUDA matches CPU (both fp32, different summation order) within
// |cuda - cpu| <= atol + rtol * |cpu| with atol = 1e-5, rtol = 1e-4 for out
// and lse, and atol = 1e-4, rtol = 1e-3 for dq, dk, dv, for inputs of
// magnitude ~1; -inf entries of lse match exactly.
#pragma once

#include <cstdint>

#include "hybrec/kernels/device.h"

namespace hybrec::kernels {

struct AttentionParams {
  std::int64_t batch = 0;
  std::int64_t seq_len = 0;
  std::int64_t heads = 0;
  std::int64_t head_dim = 0;
  // Score scale; <= 0 selects the default 1 / sqrt(head_dim).
  float scale = 0.0f;
  bool causal = false;
  // [batch, seq_len], nonzero = padded key; nullptr = no padding.
  const std::uint8_t* key_padding_mask = nullptr;

  // Forward reads q, k, v and writes out, lse.
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  float* out = nullptr;
  float* lse = nullptr;

  // Backward reads q, k, v, out, lse, dout and overwrites dq, dk, dv.
  const float* dout = nullptr;
  float* dq = nullptr;
  float* dk = nullptr;
  float* dv = nullptr;
};

// The scale actually applied: params.scale, or 1/sqrt(head_dim) when <= 0.
float attention_scale(const AttentionParams& params);

// Whether `device`'s backend supports these sizes (pointers are not looked at).
bool attention_supports(const Device& device, const AttentionParams& params);

// out, lse <- attention(q, k, v). See the file comment for the contract.
void attention_forward(const Device& device, const AttentionParams& params);

// dq, dk, dv <- gradients of the forward, given dout. Overwrites.
void attention_backward(const Device& device, const AttentionParams& params);

// ---------------------------------------------------------------------------
// Single-token decode with a KV cache: the attention of one new query per
// sequence over the keys and values cached so far, for generating (or
// scoring) one step at a time without recomputing the prefix.
//
// Layouts (row-major, float32):
//   q, out             [batch, heads, head_dim]            the new token
//   k_cache, v_cache   [batch, max_len, heads, head_dim]   as attention's k, v
//                                                          with seq_len = max_len
//   lengths            [batch] int64
// lengths[b] counts the valid cached positions of sequence b INCLUDING the
// new token, whose key and value the caller has already written at position
// lengths[b] - 1; it must be in [1, max_len]. Positions >= lengths[b] are
// never read, so the cache may hold anything there.
//
// Semantics: out[b, h] = softmax_j(scale * q[b, h] . k_cache[b, j, h]) v_cache[b, j, h]
// over j < lengths[b]: within float rounding the last row (query
// lengths[b] - 1) of a causal attention_forward over the same sequence.
// out is OVERWRITTEN and must not overlap an input. No lse is written and
// there is no backward (decode is inference).
//
// Validation: with device.check_bounds (the default) every lengths[b] is
// checked on the host against [1, max_len] and an error names b and the
// value; on CUDA that copies lengths to the host and synchronises. Without
// it, out-of-range lengths are clamped to [0, max_len] (0 gives out = 0), so
// the kernels never read outside the cache.
//
// Support (attention_decode_supports):
//   CPU   any head_dim >= 1 and max_len >= 1; one max_len float scratch per
//         OpenMP thread.
//   CUDA  head_dim 1..256 (kMaxDecodeHeadDimCuda) and any max_len; no
//         alignment requirement. One block per (batch, head): its warps
//         split the keys, each with a running (online) softmax, and are
//         combined in a fixed order, so results are deterministic.
// batch == 0 is a no-op (the pointers may then be null).
//
// Tolerance: CUDA matches CPU within atol = 1e-5, rtol = 1e-4 for inputs of
// magnitude ~1, as attention_forward.
inline constexpr std::int64_t kMaxDecodeHeadDimCuda = 256;

struct AttentionDecodeParams {
  std::int64_t batch = 0;
  std::int64_t heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t max_len = 0;
  // Score scale; <= 0 selects the default 1 / sqrt(head_dim).
  float scale = 0.0f;
  const float* q = nullptr;               // [batch, heads, head_dim]
  const float* k_cache = nullptr;         // [batch, max_len, heads, head_dim]
  const float* v_cache = nullptr;         // [batch, max_len, heads, head_dim]
  const std::int64_t* lengths = nullptr;  // [batch], each in [1, max_len]
  float* out = nullptr;                   // [batch, heads, head_dim]
};

// Whether `device`'s backend supports these sizes (pointers are not looked at).
bool attention_decode_supports(const Device& device, const AttentionDecodeParams& params);

// out <- decode attention of q over the cached keys and values. See above.
void attention_decode_forward(const Device& device, const AttentionDecodeParams& params);

}  // namespace hybrec::kernels
