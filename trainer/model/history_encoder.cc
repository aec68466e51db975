#include "trainer/model/history_encoder.h"

#include <cstring>

namespace hybrec::trainer {
namespace {

EncoderShape encoder_shape(const ModelConfig& c, int64_t batch) {
  return EncoderShape{batch, c.history_len, c.dim, c.heads, ffn_hidden(c)};
}

}  // namespace

template <typename Index>
void history_inputs(int64_t batch, int64_t len, int64_t dim, const Index* hist, const float* vecs,
                    const float* positions, HistoryWorkspace* ws) {
  ws->mask.resize(static_cast<std::size_t>(batch * len));
  ws->x0.resize(static_cast<std::size_t>(batch * len * dim));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t l = 0; l < len; ++l) {
      const int64_t slot = b * len + l;
      const int64_t h = static_cast<int64_t>(hist[slot]);
      float* x = ws->x0.data() + slot * dim;
      ws->mask[static_cast<std::size_t>(slot)] = h < 0 ? 1 : 0;
      if (h < 0) {
        std::memset(x, 0, static_cast<std::size_t>(dim) * sizeof(float));
        continue;
      }
      const float* v = vecs + h * dim;
      const float* p = positions + l * dim;
      for (int64_t k = 0; k < dim; ++k) x[k] = v[k] + p[k];
    }
  }
}

template void history_inputs<int32_t>(int64_t, int64_t, int64_t, const int32_t*, const float*,
                                      const float*, HistoryWorkspace*);
template void history_inputs<int64_t>(int64_t, int64_t, int64_t, const int64_t*, const float*,
                                      const float*, HistoryWorkspace*);

void history_encoder_forward(const ModelConfig& c, const ParamLayout& layout, const float* params,
                             int64_t batch, HistoryWorkspace* ws, float* pooled) {
  const EncoderShape s = encoder_shape(c, batch);
  const int64_t layers = static_cast<int64_t>(layout.layers.size());
  if (ws->layers.size() < layout.layers.size()) ws->layers.resize(layout.layers.size());
  const float* x = ws->x0.data();
  for (int64_t i = 0; i < layers; ++i) {
    EncoderLayerCache& cache = ws->layers[static_cast<std::size_t>(i)];
    encoder_layer_forward(s, layer_tensors(params, layout.layers[static_cast<std::size_t>(i)]), x,
                          ws->mask.data(), &cache);
    x = cache.out.data();
  }

  const int64_t len = s.seq_len, d = s.dim;
  const uint8_t* mask = ws->mask.data();
  std::memset(pooled, 0, static_cast<std::size_t>(batch * d) * sizeof(float));
  for (int64_t b = 0; b < batch; ++b) {
    float* out = pooled + b * d;
    if (c.pooling == HistoryPooling::kLast) {
      // Left-padded: the most recent event is the last slot when there is one.
      const int64_t slot = b * len + len - 1;
      if (mask[slot] == 0)
        std::memcpy(out, x + slot * d, static_cast<std::size_t>(d) * sizeof(float));
      continue;
    }
    int64_t count = 0;
    for (int64_t l = 0; l < len; ++l) {
      const int64_t slot = b * len + l;
      if (mask[slot] != 0) continue;
      ++count;
      for (int64_t k = 0; k < d; ++k) out[k] += x[slot * d + k];
    }
    if (count > 1) {
      const float inv = 1.0f / static_cast<float>(count);
      for (int64_t k = 0; k < d; ++k) out[k] *= inv;
    }
  }
}

void history_encoder_backward(const ModelConfig& c, const ParamLayout& layout, const float* params,
                              int64_t batch, const float* dpooled, float* grad,
                              GradReadyTracker* ready, HistoryWorkspace* ws) {
  const EncoderShape s = encoder_shape(c, batch);
  const int64_t len = s.seq_len, d = s.dim;
  const uint8_t* mask = ws->mask.data();
  ws->dx.assign(static_cast<std::size_t>(batch * len * d), 0.0f);
  float* dx = ws->dx.data();
  for (int64_t b = 0; b < batch; ++b) {
    const float* ds = dpooled + b * d;
    if (c.pooling == HistoryPooling::kLast) {
      const int64_t slot = b * len + len - 1;
      if (mask[slot] == 0)
        std::memcpy(dx + slot * d, ds, static_cast<std::size_t>(d) * sizeof(float));
      continue;
    }
    int64_t count = 0;
    for (int64_t l = 0; l < len; ++l) count += mask[b * len + l] == 0 ? 1 : 0;
    if (count == 0) continue;
    const float inv = count > 1 ? 1.0f / static_cast<float>(count) : 1.0f;
    for (int64_t l = 0; l < len; ++l) {
      const int64_t slot = b * len + l;
      if (mask[slot] != 0) continue;
      for (int64_t k = 0; k < d; ++k) dx[slot * d + k] = ds[k] * inv;
    }
  }

  for (int64_t i = static_cast<int64_t>(layout.layers.size()) - 1; i >= 0; --i) {
    const EncoderLayerOffsets& o = layout.layers[static_cast<std::size_t>(i)];
    const float* x = i > 0 ? ws->layers[static_cast<std::size_t>(i - 1)].out.data() : ws->x0.data();
    encoder_layer_backward(s, layer_tensors(params, o), layer_tensors(grad, o), x, mask,
                           ws->layers[static_cast<std::size_t>(i)], dx, &ws->scratch, dx);
    ready->finish(o.qkv_w);
  }
}

void history_inputs_backward(int64_t batch, int64_t len, int64_t dim, const int32_t* hist,
                             const HistoryWorkspace& ws, float* dvecs, float* dpositions) {
  const float* dx = ws.dx.data();
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t l = 0; l < len; ++l) {
      const int64_t slot = b * len + l;
      const int64_t h = hist[slot];
      if (h < 0) continue;
      const float* g = dx + slot * dim;
      float* dv = dvecs + h * dim;
      float* dp = dpositions + l * dim;
      for (int64_t k = 0; k < dim; ++k) {
        dv[k] += g[k];
        dp[k] += g[k];
      }
    }
  }
}

}  // namespace hybrec::trainer
