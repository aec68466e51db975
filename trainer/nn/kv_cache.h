// Causal decoding with the transformer block: a prefill over packed rows
// that fills each layer's key/value cache, then single-token decode steps
// that append the new token's key and value and attend over the cache.
//
// Per layer the cache holds k and v [batch, max_len, heads, head_dim]
// (attention_decode_forward's layout), slot (b, p) being position p of
// sequence b. Invariant: every slot at or beyond a sequence's current length
// is zero. The prefill establishes it (it rewrites the whole cache) and so
// does KvCache::reset; a decode step writes only the zero slot it appends
// to, by adding its row there, so no strided row write is needed.
//
// Typical use for an L-layer stack (positions and the output head are the
// caller's):
//   make_prefill_rows(dev, packed, max_len, &rows);
//   for each layer: block_prefill(dev, shape, w[l], packed, rows, x, &s, &cache[l], x);
//   then per step, lengths[b] = keys of sequence b including the new token:
//   make_decode_step(dev, lengths, batch, max_len, &step);
//   for each layer: block_decode(dev, shape, w[l], step, x, &s, &cache[l], x);
// shape.causal must be set for both.
#pragma once

#include <cstdint>

#include "hybrec/kernels/device.h"
#include "hybrec/kernels/elementwise.h"
#include "trainer/nn/packed_rows.h"
#include "trainer/nn/transformer_block.h"

namespace hybrec::nn {

// One layer's key/value cache, on the block's device.
struct KvCache {
  int64_t batch = 0;
  int64_t max_len = 0;
  kernels::Buffer<float> k, v;  // [batch, max_len, heads, head_dim]

  // Sizes the cache for batch x max_len (the buffers grow only when that is
  // more than they hold) and zeroes it: every sequence has length 0.
  void reset(const kernels::Device& device, const BlockShape& shape, int64_t batch,
             int64_t max_len);
};

// Where a prefill's packed rows go in the caches, shared by all layers:
// packed sequence s (in group order, see PackedRows) is cache row s, its
// position p slot (s, p).
struct PrefillRows {
  int64_t batch = 0;                // the packed batch's sequences
  int64_t max_len = 0;              // the caches' positions per sequence
  int64_t rows = 0;                 // packed rows
  kernels::Buffer<int64_t> source;  // [batch * max_len] packed row of each slot, -1 = none
};

// Builds `rows` for this batch (every sequence at most max_len long).
void make_prefill_rows(const kernels::Device& device, const PackedRows& packed, int64_t max_len,
                       PrefillRows* rows);

// block_inference (causal) of x [rows, dim] -> y (may alias x), which also
// rewrites *cache: the keys and values of every packed row in its slot,
// zeros elsewhere. The cache is sized (grown if needed) to rows.batch x
// rows.max_len.
void block_prefill(const kernels::Device& device, const BlockShape& shape, const BlockWeights& w,
                   const PackedRows& packed, const PrefillRows& rows, const float* x,
                   BlockInferenceScratch* scratch, KvCache* cache, float* y);

// One decode step's indices, shared by all layers: the lengths on the
// device and the scatter of new token b into cache row
// b * max_len + lengths[b] - 1. The scatter's CSR spans all batch * max_len
// cache rows (its destinations must be one range), so a step uploads
// batch * max_len + 1 offsets: as many as the attention reads cache rows.
struct DecodeStep {
  int64_t batch = 0;
  int64_t max_len = 0;
  kernels::Buffer<int64_t> lengths;          // [batch]
  kernels::Buffer<int64_t> scatter_offsets;  // [batch * max_len + 1]
  kernels::Buffer<int64_t> scatter_src;      // [batch]
  kernels::RowScatter scatter;               // over the two buffers above
};

// lengths [batch] (host): keys of sequence b including the new token, in
// [1, max_len].
void make_decode_step(const kernels::Device& device, const int64_t* lengths, int64_t batch,
                      int64_t max_len, DecodeStep* step);

// The new tokens' rows x [batch, dim] -> y [batch, dim] (may alias x): their
// keys and values are appended to *cache at slot lengths[b] - 1 (which must
// be empty, i.e. zero), and each attends over the lengths[b] keys of its
// sequence. The cache must have been sized for step.batch x step.max_len.
void block_decode(const kernels::Device& device, const BlockShape& shape, const BlockWeights& w,
                  const DecodeStep& step, const float* x, BlockInferenceScratch* scratch,
                  KvCache* cache, float* y);

}  // namespace hybrec::nn
