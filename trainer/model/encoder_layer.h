// One post-norm transformer encoder layer with explicit forward/backward:
//   x1 = LN1(x + OutProj(MHA(QKV(x))))
//   y  = LN2(x1 + W2 GELU(W1 x1))
// over a batch of sequences with padding, attention restricted to the real
// (non-padded) positions of each sequence.
//
// Packed rows. Only the real positions are stored: x, the layer's output and
// every intermediate are [rows, dim] over the real positions of the batch,
// grouped by sequence (see PackedRows). The position-wise ops run on those
// rows alone, and the attention core runs once per group of sequences with
// the same number of real positions, with no mask: attending to a sequence's
// real keys is what the masked attention over all slots computes, so this
// equals running every op on all batch * seq_len slots up to float rounding,
// while padded slots cost nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/model/param_layout.h"

namespace hybrec::trainer {

struct EncoderShape {
  int64_t dim = 0;
  int64_t heads = 0;
  int64_t hidden = 0;  // FFN width
};

// `examples` sequences of `len` real positions each, whose rows are
// [first_row, first_row + examples * len), sequence by sequence.
struct LengthGroup {
  int64_t len = 0;
  int64_t examples = 0;
  int64_t first_row = 0;
};

// The real positions of a batch: `rows` packed rows covered by `num_groups`
// consecutive groups.
struct PackedRows {
  int64_t rows = 0;
  const LengthGroup* groups = nullptr;
  int64_t num_groups = 0;
};

// Pointers to one layer's tensors (parameters or their gradients) inside a
// flat buffer.
template <typename T>
struct EncoderLayerTensors {
  T* qkv_w;
  T* qkv_b;
  T* out_w;
  T* out_b;
  T* ln1_g;
  T* ln1_b;
  T* ffn1_w;
  T* ffn1_b;
  T* ffn2_w;
  T* ffn2_b;
  T* ln2_g;
  T* ln2_b;
};

template <typename T>
EncoderLayerTensors<T> layer_tensors(T* base, const EncoderLayerOffsets& o) {
  return {base + o.qkv_w,  base + o.qkv_b,  base + o.out_w,  base + o.out_b,
          base + o.ln1_g,  base + o.ln1_b,  base + o.ffn1_w, base + o.ffn1_b,
          base + o.ffn2_w, base + o.ffn2_b, base + o.ln2_g,  base + o.ln2_b};
}

// What the forward keeps for the backward, all over packed rows; `out`
// [rows, dim] is the layer's output. Buffers grow to the largest batch seen
// and are reused.
struct EncoderLayerCache {
  std::vector<float> q, k, v, att, lse, r1, x1, mean1, rstd1, f1, g, r2, mean2, rstd2, out;
  void resize(const EncoderShape& s, int64_t rows);
};

// Scratch for the backward, shared by all layers.
struct EncoderBackwardScratch {
  std::vector<float> d1, d2, dq, dk, dv, dh;
  void resize(const EncoderShape& s, int64_t rows);
};

// x [rows, dim] packed. Writes cache.
void encoder_layer_forward(const EncoderShape& s, const EncoderLayerTensors<const float>& w,
                           const PackedRows& packed, const float* x, EncoderLayerCache* cache);

// dy [rows, dim] is the gradient of cache.out and is clobbered. Parameter
// gradients are ACCUMULATED into g; dx [rows, dim] is OVERWRITTEN (it may
// alias dy).
void encoder_layer_backward(const EncoderShape& s, const EncoderLayerTensors<const float>& w,
                            const EncoderLayerTensors<float>& g, const PackedRows& packed,
                            const float* x, const EncoderLayerCache& cache, float* dy,
                            EncoderBackwardScratch* scratch, float* dx);

}  // namespace hybrec::trainer
