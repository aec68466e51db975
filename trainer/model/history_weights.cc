// HybridModel::history_weights: the history encoder's forward as
// user_states runs it, then the last layer's attention probabilities
// recomputed on the host from its saved Q and K (a user's history is at most
// history_len rows, so an L x L softmax per head is cheap and the kernels'
// attention API needs no probability output).
#include <algorithm>
#include <cmath>
#include <vector>

#include "hybrec/kernels/error.h"
#include "trainer/model/device_arrays.h"
#include "trainer/model/history_encoder.h"
#include "trainer/model/hybrid_model.h"

namespace hybrec::trainer {
namespace {

namespace k = hybrec::kernels;

constexpr int64_t kUserChunk = 256;

// Weights of `count` users with no attention to read: 1 / real slots each.
void uniform_weights(int64_t count, int64_t len, const int64_t* hist, float* weights) {
  for (int64_t b = 0; b < count; ++b) {
    int64_t real = 0;
    for (int64_t l = 0; l < len; ++l) real += hist[b * len + l] >= 0 ? 1 : 0;
    for (int64_t l = 0; l < len; ++l) {
      weights[b * len + l] = hist[b * len + l] >= 0 ? 1.0f / static_cast<float>(real) : 0.0f;
    }
  }
}

}  // namespace

void HybridModel::history_weights(const float* params, int64_t n, const int64_t* history,
                                  const float* item_vecs, float* weights) const {
  HYBREC_CHECK(n >= 0, "HybridModel::history_weights: n = ", n);
  const int64_t d = config_.dim, len = config_.history_len, heads = config_.heads;
  if (!config_.use_history || layout_.layers.empty()) {
    uniform_weights(n, len, history, weights);
    return;
  }
  const int64_t hd = d / heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  HistoryPacking packing;
  HistoryActivations acts;
  k::Buffer<float> pooled;
  std::vector<float> q, kk;
  std::vector<double> p, w;
  for (int64_t begin = 0; begin < n; begin += kUserChunk) {
    const int64_t count = std::min(kUserChunk, n - begin);
    const int64_t* hist = history + begin * len;
    float* out = weights + begin * len;
    std::fill(out, out + count * len, 0.0f);
    int64_t vec_rows = 0;
    for (int64_t i = 0; i < count * len; ++i) vec_rows = std::max(vec_rows, hist[i] + 1);
    pack_history(count, len, hist, false, vec_rows, &packing);
    if (packing.rows == 0) continue;
    upload_history_packing(device_, config_, packing, false, vec_rows, &acts);
    history_inputs(device_, config_, packing, vec_rows, item_vecs, params + layout_.positions,
                   &acts);
    history_encoder_forward(device_, config_, layout_, params, packing, &acts,
                            grow(device_, count * d, &pooled));
    const nn::BlockActivations& last = acts.layers[layout_.layers.size() - 1];
    const std::size_t values = static_cast<std::size_t>(packing.rows * d);
    q.resize(values);
    kk.resize(values);
    k::copy_to_host(device_, q.data(), last.q.data(), values * sizeof(float));
    k::copy_to_host(device_, kk.data(), last.k.data(), values * sizeof(float));
    for (int64_t b = 0; b < count; ++b) {
      const int64_t real = packing.example_len[b];
      if (real == 0) continue;
      const int64_t r0 = packing.example_row[b];
      // Mean pooling reads every position; last pooling only the most
      // recent, whose row exists when slot L - 1 is real (left padding).
      int64_t first_query = 0;
      if (config_.pooling == HistoryPooling::kLast) {
        if (packing.last_row[b] < 0) {
          uniform_weights(1, len, hist + b * len, out + b * len);
          continue;
        }
        first_query = packing.last_row[b] - r0;
      }
      const int64_t queries = real - first_query;
      w.assign(static_cast<std::size_t>(real), 0.0);
      p.resize(static_cast<std::size_t>(real));
      for (int64_t h = 0; h < heads; ++h) {
        for (int64_t i = first_query; i < real; ++i) {
          const float* qi = q.data() + (r0 + i) * d + h * hd;
          double top = -INFINITY, sum = 0;
          for (int64_t j = 0; j < real; ++j) {
            const float* kj = kk.data() + (r0 + j) * d + h * hd;
            double s = 0;
            for (int64_t t = 0; t < hd; ++t) s += static_cast<double>(qi[t]) * kj[t];
            p[j] = s * scale;
            top = std::max(top, p[j]);
          }
          for (int64_t j = 0; j < real; ++j) {
            p[j] = std::exp(p[j] - top);
            sum += p[j];
          }
          for (int64_t j = 0; j < real; ++j) w[j] += p[j] / sum;
        }
      }
      const double norm = static_cast<double>(heads * queries);
      for (int64_t j = 0; j < real; ++j) {
        out[b * len + packing.row_pos[r0 + j]] = static_cast<float>(w[j] / norm);
      }
    }
  }
}

}  // namespace hybrec::trainer
