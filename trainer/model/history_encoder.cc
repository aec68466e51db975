#include "trainer/model/history_encoder.h"

#include <cstring>

namespace hybrec::trainer {
namespace {

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

}  // namespace

template <typename Index>
void history_inputs(int64_t batch, int64_t len, int64_t dim, const Index* hist, const float* vecs,
                    const float* positions, HistoryWorkspace* ws) {
  ws->example_len.assign(at(batch), 0);
  ws->example_row.assign(at(batch), 0);
  ws->next_row.assign(at(len + 1), 0);  // examples per length, then next free row per length
  int64_t* next = ws->next_row.data();
  for (int64_t b = 0; b < batch; ++b) {
    int64_t n = 0;
    for (int64_t l = 0; l < len; ++l) n += static_cast<int64_t>(hist[b * len + l]) >= 0 ? 1 : 0;
    ws->example_len[at(b)] = n;
    ++next[n];
  }
  ws->groups.clear();
  int64_t rows = 0;
  for (int64_t n = 1; n <= len; ++n) {
    const int64_t examples = next[n];
    if (examples > 0) ws->groups.push_back(nn::LengthGroup{n, examples, rows});
    next[n] = rows;
    rows += examples * n;
  }
  ws->row_slot.resize(at(rows));
  ws->x0.resize(at(rows * dim));
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t n = ws->example_len[at(b)];
    if (n == 0) continue;
    int64_t r = next[n];
    next[n] += n;
    ws->example_row[at(b)] = r;
    for (int64_t l = 0; l < len; ++l) {
      const int64_t slot = b * len + l;
      const int64_t h = static_cast<int64_t>(hist[slot]);
      if (h < 0) continue;
      ws->row_slot[at(r)] = slot;
      const float* v = vecs + h * dim;
      const float* p = positions + l * dim;
      float* x = ws->x0.data() + r * dim;
      for (int64_t k = 0; k < dim; ++k) x[k] = v[k] + p[k];
      ++r;
    }
  }
}

template void history_inputs<int32_t>(int64_t, int64_t, int64_t, const int32_t*, const float*,
                                      const float*, HistoryWorkspace*);
template void history_inputs<int64_t>(int64_t, int64_t, int64_t, const int64_t*, const float*,
                                      const float*, HistoryWorkspace*);

void history_encoder_forward(const ModelConfig& c, const ParamLayout& layout, const float* params,
                             int64_t batch, HistoryWorkspace* ws, float* pooled) {
  const nn::BlockShape s = encoder_shape(c);
  const nn::PackedRows rows = ws->packed();
  const int64_t layers = static_cast<int64_t>(layout.layers.size());
  if (ws->layers.size() < layout.layers.size()) ws->layers.resize(layout.layers.size());
  const kernels::Device cpu = kernels::Device::cpu();
  const float* x = ws->x0.data();
  for (int64_t i = 0; i < layers; ++i) {
    nn::BlockActivations& acts = ws->layers[at(i)];
    nn::block_forward(cpu, s, block_tensors(s.dim, params, layout.layers[at(i)]), rows, x, &acts);
    x = acts.out.data();
  }

  const int64_t len = c.history_len, d = s.dim;
  std::memset(pooled, 0, at(batch * d) * sizeof(float));
  for (int64_t b = 0; b < batch; ++b) {
    float* out = pooled + b * d;
    const int64_t r0 = ws->example_row[at(b)], n = ws->example_len[at(b)];
    if (n == 0) continue;
    if (c.pooling == HistoryPooling::kLast) {
      // Left-padded: the most recent event is the last slot when there is one.
      const int64_t last = r0 + n - 1;
      if (ws->row_slot[at(last)] == b * len + len - 1)
        std::memcpy(out, x + last * d, at(d) * sizeof(float));
      continue;
    }
    for (int64_t r = r0; r < r0 + n; ++r) {
      for (int64_t k = 0; k < d; ++k) out[k] += x[r * d + k];
    }
    if (n > 1) {
      const float inv = 1.0f / static_cast<float>(n);
      for (int64_t k = 0; k < d; ++k) out[k] *= inv;
    }
  }
}

void history_encoder_backward(const ModelConfig& c, const ParamLayout& layout, const float* params,
                              int64_t batch, const float* dpooled, float* grad,
                              GradReadyTracker* ready, HistoryWorkspace* ws) {
  const nn::BlockShape s = encoder_shape(c);
  const nn::PackedRows rows = ws->packed();
  const int64_t len = c.history_len, d = s.dim;
  ws->dx.resize(at(rows.rows * d));
  float* dx = ws->dx.data();
  for (int64_t b = 0; b < batch; ++b) {
    const float* ds = dpooled + b * d;
    const int64_t r0 = ws->example_row[at(b)], n = ws->example_len[at(b)];
    if (c.pooling == HistoryPooling::kLast) {
      for (int64_t r = r0; r < r0 + n; ++r) {
        const bool last = ws->row_slot[at(r)] == b * len + len - 1;
        for (int64_t k = 0; k < d; ++k) dx[r * d + k] = last ? ds[k] : 0.0f;
      }
      continue;
    }
    const float inv = n > 1 ? 1.0f / static_cast<float>(n) : 1.0f;
    for (int64_t r = r0; r < r0 + n; ++r) {
      for (int64_t k = 0; k < d; ++k) dx[r * d + k] = ds[k] * inv;
    }
  }

  for (int64_t i = static_cast<int64_t>(layout.layers.size()) - 1; i >= 0; --i) {
    const EncoderLayerOffsets& o = layout.layers[at(i)];
    const float* x = i > 0 ? ws->layers[at(i - 1)].out.data() : ws->x0.data();
    nn::block_backward(kernels::Device::cpu(), s, block_tensors(d, params, o),
                       block_tensors(d, grad, o), rows, x, ws->layers[at(i)], dx, &ws->scratch, dx);
    ready->finish(o.qkv_w);
  }
}

void history_inputs_backward(int64_t batch, int64_t len, int64_t dim, const int32_t* hist,
                             const HistoryWorkspace& ws, float* dvecs, float* dpositions) {
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t r0 = ws.example_row[at(b)], n = ws.example_len[at(b)];
    for (int64_t r = r0; r < r0 + n; ++r) {
      const int64_t slot = ws.row_slot[at(r)];
      const float* g = ws.dx.data() + r * dim;
      float* dv = dvecs + static_cast<int64_t>(hist[slot]) * dim;
      float* dp = dpositions + (slot % len) * dim;
      for (int64_t k = 0; k < dim; ++k) {
        dv[k] += g[k];
        dp[k] += g[k];
      }
    }
  }
}

}  // namespace hybrec::trainer
