#include "trainer/nn/kv_cache.h"

#include <vector>

#include "hybrec/kernels/attention.h"
#include "hybrec/kernels/elementwise.h"
#include "hybrec/kernels/error.h"
#include "trainer/nn/block_ops.h"

namespace hybrec::nn {

namespace k = hybrec::kernels;

namespace {

// Copies host values into the front of a device buffer grown to hold them.
void upload(const k::Device& device, const std::vector<int64_t>& host, k::Buffer<int64_t>* buffer) {
  grow(device, static_cast<int64_t>(host.size()), buffer);
  if (!host.empty()) {
    k::copy_to_device(device, buffer->data(), host.data(), host.size() * sizeof(int64_t));
  }
}

void size_cache(const k::Device& device, const BlockShape& s, int64_t batch, int64_t max_len,
                KvCache* cache) {
  HYBREC_CHECK(batch >= 0 && max_len >= 1, "KvCache: batch ", batch, " and max_len ", max_len,
               " must be >= 0 and >= 1");
  cache->batch = batch;
  cache->max_len = max_len;
  grow(device, batch * max_len * s.dim, &cache->k);
  grow(device, batch * max_len * s.dim, &cache->v);
}

}  // namespace

void KvCache::reset(const k::Device& device, const BlockShape& s, int64_t b, int64_t len) {
  size_cache(device, s, b, len, this);
  const auto bytes = static_cast<std::size_t>(b * len * s.dim) * sizeof(float);
  if (bytes > 0) {
    k::fill_zero(device, k.data(), bytes);
    k::fill_zero(device, v.data(), bytes);
  }
}

void make_prefill_rows(const k::Device& device, const PackedRows& packed, int64_t max_len,
                       PrefillRows* rows) {
  check_packed(packed);
  const int64_t batch = packed.sequences();
  std::vector<int64_t> source(static_cast<std::size_t>(batch * max_len), -1);
  int64_t s = 0;
  for (int64_t i = 0; i < packed.num_groups; ++i) {
    const LengthGroup& g = packed.groups[i];
    HYBREC_CHECK(g.len <= max_len, "make_prefill_rows: sequences of length ", g.len,
                 " do not fit a cache of max_len ", max_len);
    for (int64_t e = 0; e < g.examples; ++e, ++s) {
      for (int64_t p = 0; p < g.len; ++p) {
        source[static_cast<std::size_t>(s * max_len + p)] = g.first_row + e * g.len + p;
      }
    }
  }
  rows->batch = batch;
  rows->max_len = max_len;
  rows->rows = packed.rows;
  upload(device, source, &rows->source);
}

void block_prefill(const k::Device& device, const BlockShape& s, const BlockWeights& w,
                   const PackedRows& packed, const PrefillRows& rows, const float* x,
                   BlockInferenceScratch* scratch, KvCache* cache, float* y) {
  HYBREC_CHECK(s.causal, "block_prefill: the shape is not causal");
  HYBREC_CHECK(rows.rows == packed.rows && rows.batch == packed.sequences(),
               "block_prefill: the prefill rows were made for ", rows.batch, " sequences of ",
               rows.rows, " rows, the batch has ", packed.sequences(), " of ", packed.rows);
  size_cache(device, s, rows.batch, rows.max_len, cache);
  const int64_t slots = rows.batch * rows.max_len;
  if (packed.rows == 0) {
    cache->reset(device, s, rows.batch, rows.max_len);
    return;
  }
  // The whole forward first: it leaves this layer's K and V in the scratch.
  block_inference(device, s, w, packed, x, scratch, y);
  k::gather_rows(device, scratch->k.data(), packed.rows, s.dim, rows.source.data(), slots,
                 cache->k.data(), /*accumulate=*/false);
  k::gather_rows(device, scratch->v.data(), packed.rows, s.dim, rows.source.data(), slots,
                 cache->v.data(), /*accumulate=*/false);
}

void make_decode_step(const k::Device& device, const int64_t* lengths, int64_t batch,
                      int64_t max_len, DecodeStep* step) {
  HYBREC_CHECK(batch >= 0 && max_len >= 1, "make_decode_step: batch ", batch, " and max_len ",
               max_len, " must be >= 0 and >= 1");
  std::vector<int64_t> len(lengths, lengths + batch), slot(static_cast<std::size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    HYBREC_CHECK(len[b] >= 1 && len[b] <= max_len, "make_decode_step: length ", len[b],
                 " of sequence ", b, " outside [1, ", max_len, "]");
    slot[static_cast<std::size_t>(b)] = b * max_len + len[b] - 1;
  }
  const k::HostRowScatter scatter = k::make_row_scatter(slot.data(), batch, batch * max_len);
  step->batch = batch;
  step->max_len = max_len;
  upload(device, len, &step->lengths);
  upload(device, scatter.offsets, &step->scatter_offsets);
  upload(device, scatter.src_index, &step->scatter_src);
  step->scatter.dst_rows = batch * max_len;
  step->scatter.offsets = step->scatter_offsets.data();
  step->scatter.src_index = step->scatter_src.data();
}

void block_decode(const k::Device& device, const BlockShape& s, const BlockWeights& w,
                  const DecodeStep& step, const float* x, BlockInferenceScratch* scratch,
                  KvCache* cache, float* y) {
  check_shape(s);
  HYBREC_CHECK(s.causal, "block_decode: the shape is not causal");
  HYBREC_CHECK(cache->batch == step.batch && cache->max_len == step.max_len,
               "block_decode: the cache holds ", cache->batch, " x ", cache->max_len,
               " positions, the step is for ", step.batch, " x ", step.max_len);
  const int64_t n = step.batch, d = s.dim;
  if (n == 0) return;
  scratch->reserve(device, s, n);
  BlockInferenceScratch& c = *scratch;
  linear_forward(device, n, d, d, x, w.q_w, w.q_b, c.q.data());
  linear_forward(device, n, d, d, x, w.k_w, w.k_b, c.k.data());
  linear_forward(device, n, d, d, x, w.v_w, w.v_b, c.v.data());
  // The new slots are zero (the cache invariant), so adding a row there
  // writes it exactly.
  k::scatter_add_rows(device, step.scatter, c.k.data(), n, d, cache->k.data());
  k::scatter_add_rows(device, step.scatter, c.v.data(), n, d, cache->v.data());

  k::AttentionDecodeParams p;
  p.batch = n;
  p.heads = s.heads;
  p.head_dim = s.head_dim();
  p.max_len = step.max_len;
  p.q = c.q.data();
  p.k_cache = cache->k.data();
  p.v_cache = cache->v.data();
  p.lengths = step.lengths.data();
  p.out = c.att.data();
  k::attention_decode_forward(device, p);
  block_tail_inference(device, s, w, n, x, scratch, y);
}

}  // namespace hybrec::nn
