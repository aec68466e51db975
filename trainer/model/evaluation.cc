// Full-ranking evaluation: item vectors, user states and the scores of every
// (user, item) pair, computed with the same pieces as the training forward
// (item tower, history encoder, text query) without ID dropout. The work is
// cut into chunks so scratch stays bounded whatever n is.
#include <algorithm>
#include <cstring>
#include <vector>

#include "hybrec/kernels/bilinear.h"
#include "hybrec/kernels/dense.h"
#include "hybrec/kernels/error.h"
#include "trainer/model/history_encoder.h"
#include "trainer/model/hybrid_model.h"
#include "trainer/model/item_tower.h"
#include "trainer/model/text_score.h"

namespace hybrec::trainer {
namespace {

namespace k = hybrec::kernels;

constexpr int64_t kItemChunk = 4096;
constexpr int64_t kUserChunk = 256;
constexpr int64_t kScoreChunk = 64;

}  // namespace

void HybridModel::item_vectors(const float* params, int64_t n, const int64_t* item_ids,
                               const float* item_rows, const float* text_emb, float* out) const {
  HYBREC_CHECK(n >= 0, "HybridModel::item_vectors: n = ", n);
  const int64_t d = config_.dim, t = config_.text_dim;
  std::vector<float> text;
  for (int64_t begin = 0; begin < n; begin += kItemChunk) {
    const int64_t count = std::min(kItemChunk, n - begin);
    ItemTowerArgs tower;
    tower.n = count;
    tower.dim = d;
    tower.text_dim = t;
    tower.id_rows = config_.use_id ? item_rows + begin * d : nullptr;
    if (config_.use_text) {
      text.resize(static_cast<std::size_t>(count * t));
      gather_text_rows(count, t, item_ids + begin, text_emb, 0, text.data());
      tower.text_rows = text.data();
      tower.adapter = params + layout_.adapter;
    }
    item_tower_forward(tower, out + begin * d);
  }
}

void HybridModel::user_states(const float* params, int64_t n, const float* user_rows,
                              const int64_t* history, const float* item_vecs, const float* text_emb,
                              float* user_out, float* query_out) const {
  HYBREC_CHECK(n >= 0, "HybridModel::user_states: n = ", n);
  const int64_t d = config_.dim, t = config_.text_dim, len = config_.history_len;
  HistoryWorkspace ws;
  for (int64_t begin = 0; begin < n; begin += kUserChunk) {
    const int64_t count = std::min(kUserChunk, n - begin);
    float* users = user_out + begin * d;
    const int64_t* hist = history + begin * len;
    if (config_.use_history) {
      history_inputs(count, len, d, hist, item_vecs, params + layout_.positions, &ws);
      history_encoder_forward(config_, layout_, params, count, &ws, users);
    } else {
      std::memset(users, 0, static_cast<std::size_t>(count * d) * sizeof(float));
    }
    if (config_.use_id) {
      const float* e = user_rows + begin * d;
      for (int64_t i = 0; i < count * d; ++i) users[i] += e[i];
    }
    if (query_out != nullptr && t > 0) {
      float* q = query_out + begin * t;
      if (config_.use_text_score) {
        text_queries(count, len, t, hist, text_emb, q);
      } else {
        std::memset(q, 0, static_cast<std::size_t>(count * t) * sizeof(float));
      }
    }
  }
}

void HybridModel::score_items(const float* params, int64_t n, const float* users,
                              const float* queries, int64_t num_items, const float* item_vecs,
                              const float* text_emb, float* scores) const {
  HYBREC_CHECK(n >= 0 && num_items >= 0, "HybridModel::score_items: n = ", n,
               ", num_items = ", num_items);
  if (n == 0 || num_items == 0) return;
  const k::Device cpu = k::Device::cpu();
  const int64_t d = config_.dim, t = config_.text_dim;

  // u'^T W v = (W^T u') . v: one GEMM for W^T u' (linear's weight is W^T),
  // one for the dot products with every item.
  std::vector<float> wt(static_cast<std::size_t>(d * d));
  const float* w = params + layout_.bilinear;
  for (int64_t i = 0; i < d; ++i) {
    for (int64_t j = 0; j < d; ++j) wt[static_cast<std::size_t>(j * d + i)] = w[i * d + j];
  }
  std::vector<float> uw(static_cast<std::size_t>(n * d));
  k::LinearParams p;
  p.n = n;
  p.in_features = d;
  p.out_features = d;
  p.x = users;
  p.weight = wt.data();
  p.y = uw.data();
  k::linear_forward(cpu, p);
  k::LinearParams s;
  s.n = n;
  s.in_features = d;
  s.out_features = num_items;
  s.x = uw.data();
  s.weight = item_vecs;
  s.y = scores;
  k::linear_forward(cpu, s);
  if (!config_.use_text_score) return;

  std::vector<float> inv(static_cast<std::size_t>(num_items));
  text_inverse_norms(num_items, t, text_emb, inv.data());
  const float scale = params[layout_.text_scale];
  std::vector<float> g;
  for (int64_t begin = 0; begin < n; begin += kScoreChunk) {
    const int64_t count = std::min(kScoreChunk, n - begin);
    g.resize(static_cast<std::size_t>(count * num_items));
    k::LinearParams c;
    c.n = count;
    c.in_features = t;
    c.out_features = num_items;
    c.x = queries + begin * t;
    c.weight = text_emb;
    c.y = g.data();
    k::linear_forward(cpu, c);
    for (int64_t r = 0; r < count; ++r) {
      float* row = g.data() + r * num_items;
      for (int64_t j = 0; j < num_items; ++j)
        row[j] = scale * (row[j] * inv[static_cast<std::size_t>(j)]);
    }
    k::FusedScoreParams f;
    f.batch = count * num_items;
    f.z = scores + begin * num_items;
    f.g = g.data();
    f.lambda = params + layout_.lambda;
    k::fused_score_forward(cpu, f, scores + begin * num_items);
  }
}

}  // namespace hybrec::trainer
