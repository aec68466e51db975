#include "trainer/model/history_encoder.h"

namespace hybrec::trainer {
namespace {

namespace k = hybrec::kernels;

// The history encoder's blocks: bidirectional over the history, PyTorch's
// default layer-norm epsilon.
nn::BlockShape encoder_shape(const ModelConfig& c) {
  nn::BlockShape s;
  s.dim = c.dim;
  s.heads = c.heads;
  s.hidden = ffn_hidden(c);
  s.eps = 1e-5f;
  s.causal = false;
  return s;
}

// One layer's tensors (parameters or gradients) in the flat buffer; its QKV
// weight is fused, [3d, d] with the Q rows first.
template <typename T>
nn::BlockTensors<T> block_tensors(int64_t dim, T* base, const EncoderLayerOffsets& o) {
  nn::BlockTensors<T> t;
  nn::set_fused_qkv(dim, base + o.qkv_w, base + o.qkv_b, &t);
  t.out_w = base + o.out_w;
  t.out_b = base + o.out_b;
  t.ln1_g = base + o.ln1_g;
  t.ln1_b = base + o.ln1_b;
  t.ffn1_w = base + o.ffn1_w;
  t.ffn1_b = base + o.ffn1_b;
  t.ffn2_w = base + o.ffn2_w;
  t.ffn2_b = base + o.ffn2_b;
  t.ln2_g = base + o.ln2_g;
  t.ln2_b = base + o.ln2_b;
  return t;
}

std::size_t at(int64_t i) { return static_cast<std::size_t>(i); }

// The scatter "for i in visit order: dst[visit_dst[i]] += src[visit_row[i]]"
// as a CSR over source rows: make_row_scatter keeps the visit order within
// each destination, and its source positions are mapped back to rows.
void visit_scatter(const HistoryPacking& p, int64_t dst_rows, k::HostRowScatter* out) {
  k::make_row_scatter(p.visit_dst.data(), p.rows, dst_rows, out);
  for (int64_t& j : out->src_index) j = p.visit_row[at(j)];
}

}  // namespace

template <typename Index>
void pack_history(int64_t batch, int64_t len, const Index* hist, bool backward, int64_t num_vecs,
                  HistoryPacking* p) {
  p->example_len.assign(at(batch), 0);
  p->example_row.assign(at(batch), 0);
  p->next_row.assign(at(len + 1), 0);  // examples per length, then next free row per length
  p->next_seq.assign(at(len + 1), 0);
  int64_t* next = p->next_row.data();
  for (int64_t b = 0; b < batch; ++b) {
    int64_t n = 0;
    for (int64_t l = 0; l < len; ++l) n += static_cast<int64_t>(hist[b * len + l]) >= 0 ? 1 : 0;
    p->example_len[at(b)] = n;
    ++next[n];
  }
  p->groups.clear();
  int64_t rows = 0, seqs = 0;
  for (int64_t n = 0; n <= len; ++n) {
    const int64_t examples = next[n];
    if (n > 0 && examples > 0) p->groups.push_back(nn::LengthGroup{n, examples, rows});
    p->next_seq[at(n)] = seqs;
    seqs += examples;
    next[n] = rows;
    rows += examples * n;
  }
  p->rows = rows;
  p->row_vec.resize(at(rows));
  p->row_pos.resize(at(rows));
  p->row_last.assign(at(rows), -1);
  p->last_row.assign(at(batch), -1);
  p->seq_offsets.assign(at(batch + 1), 0);
  p->seq_example.resize(at(batch));
  p->example_seq.resize(at(batch));
  p->visit_row.clear();
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t n = p->example_len[at(b)];
    const int64_t s = p->next_seq[at(n)]++;
    int64_t r = next[n];
    next[n] += n;
    p->seq_example[at(s)] = b;
    p->example_seq[at(b)] = s;
    p->seq_offsets[at(s)] = r;
    p->seq_offsets[at(s + 1)] = r + n;
    p->example_row[at(b)] = n > 0 ? r : 0;
    for (int64_t l = 0; l < len; ++l) {
      const int64_t h = static_cast<int64_t>(hist[b * len + l]);
      if (h < 0) continue;
      p->row_vec[at(r)] = h;
      p->row_pos[at(r)] = l;
      if (l == len - 1) {  // left-padded: the most recent event is the last slot
        p->last_row[at(b)] = r;
        p->row_last[at(r)] = b;
      }
      p->visit_row.push_back(r);
      ++r;
    }
  }
  if (!backward) return;
  p->visit_dst.resize(at(rows));
  for (int64_t i = 0; i < rows; ++i) p->visit_dst[at(i)] = p->row_vec[at(p->visit_row[at(i)])];
  visit_scatter(*p, num_vecs, &p->to_vecs);
  for (int64_t i = 0; i < rows; ++i) p->visit_dst[at(i)] = p->row_pos[at(p->visit_row[at(i)])];
  visit_scatter(*p, len, &p->to_positions);
}

template void pack_history<int32_t>(int64_t, int64_t, const int32_t*, bool, int64_t,
                                    HistoryPacking*);
template void pack_history<int64_t>(int64_t, int64_t, const int64_t*, bool, int64_t,
                                    HistoryPacking*);

void upload_history_packing(const k::Device& device, const ModelConfig& c,
                            const HistoryPacking& p, bool backward, int64_t num_vecs,
                            HistoryActivations* ws) {
  const int64_t len = c.history_len;
  upload(device, p.row_vec, &ws->row_vec);
  upload(device, p.row_pos, &ws->row_pos);
  if (c.pooling == HistoryPooling::kLast) {
    upload(device, p.last_row, &ws->last_row);
    if (backward) upload(device, p.row_last, &ws->row_last);
  } else {
    upload(device, p.seq_offsets, &ws->seq_offsets);
    upload(device, p.example_seq, &ws->example_seq);
    if (backward) upload(device, p.seq_example, &ws->seq_example);
  }
  if (backward) {
    ws->to_vecs.upload(device, p.to_vecs, num_vecs);
    ws->to_positions.upload(device, p.to_positions, len);
  }
}

void history_inputs(const k::Device& device, const ModelConfig& c, const HistoryPacking& p,
                    int64_t num_vecs, const float* vecs, const float* positions,
                    HistoryActivations* ws) {
  const int64_t d = c.dim, len = c.history_len;
  const int64_t* row_vec = ws->row_vec.data();
  const int64_t* row_pos = ws->row_pos.data();
  // x0 = v + p: the vector row copied, then the position added onto it.
  float* x0 = grow(device, p.rows * d, &ws->x0);
  k::gather_rows(device, vecs, num_vecs, d, row_vec, p.rows, x0, false);
  k::gather_rows(device, positions, len, d, row_pos, p.rows, x0, true);
}

void history_encoder_forward(const k::Device& device, const ModelConfig& c,
                             const ParamLayout& layout, const float* params,
                             const HistoryPacking& p, HistoryActivations* ws, float* pooled) {
  const nn::BlockShape s = encoder_shape(c);
  const nn::PackedRows rows = p.packed();
  const int64_t batch = static_cast<int64_t>(p.example_len.size()), d = s.dim;
  if (ws->layers.size() < layout.layers.size()) ws->layers.resize(layout.layers.size());
  const float* x = ws->x0.data();
  for (std::size_t i = 0; i < layout.layers.size(); ++i) {
    nn::BlockActivations& acts = ws->layers[i];
    nn::block_forward(device, s, block_tensors(d, params, layout.layers[i]), rows, x, &acts);
    x = acts.out.data();
  }
  if (c.pooling == HistoryPooling::kLast) {
    // A user whose most recent slot is padding pools to 0 (index -1).
    k::gather_rows(device, x, p.rows, d, ws->last_row.data(), batch, pooled, false);
    return;
  }
  // Mean over each sequence in packed order, then back into example order.
  float* seq_out = grow(device, batch * d, &ws->seq_out);
  k::segment_mean_forward(device, x, d, ws->seq_offsets.data(), batch, seq_out);
  k::gather_rows(device, seq_out, batch, d, ws->example_seq.data(), batch, pooled, false);
}

void history_encoder_backward(const k::Device& device, const ModelConfig& c,
                              const ParamLayout& layout, const float* params,
                              const HistoryPacking& p, const float* dpooled, float* grad,
                              GradReadyTracker* ready, HistoryActivations* ws) {
  const nn::BlockShape s = encoder_shape(c);
  const nn::PackedRows rows = p.packed();
  const int64_t batch = static_cast<int64_t>(p.example_len.size()), d = s.dim;
  float* dx = grow(device, p.rows * d, &ws->dx);
  if (c.pooling == HistoryPooling::kLast) {
    k::gather_rows(device, dpooled, batch, d, ws->row_last.data(), p.rows, dx, false);
  } else {
    // seq_out is free after the forward: it holds dpooled in sequence order.
    k::gather_rows(device, dpooled, batch, d, ws->seq_example.data(), batch, ws->seq_out.data(),
                   false);
    k::segment_mean_backward(device, ws->seq_out.data(), d, ws->seq_offsets.data(), batch, dx);
  }
  for (int64_t i = static_cast<int64_t>(layout.layers.size()) - 1; i >= 0; --i) {
    const EncoderLayerOffsets& o = layout.layers[at(i)];
    const float* x = i > 0 ? ws->layers[at(i - 1)].out.data() : ws->x0.data();
    nn::block_backward(device, s, block_tensors(d, params, o), block_tensors(d, grad, o), rows, x,
                       ws->layers[at(i)], dx, &ws->scratch, dx);
    ready->finish(o.qkv_w);
  }
}

void history_inputs_backward(const k::Device& device, int64_t dim, const HistoryPacking& p,
                             const HistoryActivations& ws, float* dvecs, float* dpositions) {
  k::scatter_add_rows(device, ws.to_vecs.view(), ws.dx.data(), p.rows, dim, dvecs);
  k::scatter_add_rows(device, ws.to_positions.view(), ws.dx.data(), p.rows, dim, dpositions);
}

}  // namespace hybrec::trainer
