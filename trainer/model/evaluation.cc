// Full-ranking evaluation: item vectors, user states and the scores of every
// (user, item) pair, computed with the same pieces as the training forward
// (item tower, history encoder, text query) without ID dropout, on the
// model's device. The work is cut into chunks so scratch stays bounded
// whatever n is.
#include <algorithm>
#include <vector>

#include "hybrec/kernels/bilinear.h"
#include "hybrec/kernels/dense.h"
#include "hybrec/kernels/elementwise.h"
#include "hybrec/kernels/error.h"
#include "trainer/model/device_arrays.h"
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

// Rows a table indexed by these ids must have: the ids carry no row count,
// and the gathers' bounds checks need one.
int64_t rows_spanned(const int64_t* ids, int64_t n) {
  int64_t rows = 0;
  for (int64_t i = 0; i < n; ++i) rows = std::max(rows, ids[i] + 1);
  return rows;
}

}  // namespace

void HybridModel::item_vectors(const float* params, int64_t n, const int64_t* item_ids,
                               const float* item_rows, const float* text_emb, const uint8_t* unseen,
                               float* out) const {
  HYBREC_CHECK(n >= 0, "HybridModel::item_vectors: n = ", n);
  const int64_t d = config_.dim, t = config_.text_dim;
  const bool masks_unseen = config_.use_id && unseen != nullptr && layout_.new_item >= 0;
  k::Buffer<float> text, keep;
  k::Buffer<int64_t> ids, new_item;
  std::vector<float> host_keep;
  std::vector<int64_t> host_new_item;
  for (int64_t begin = 0; begin < n; begin += kItemChunk) {
    const int64_t count = std::min(kItemChunk, n - begin);
    ItemTowerArgs tower;
    tower.n = count;
    tower.dim = d;
    tower.text_dim = t;
    tower.id_rows = config_.use_id ? item_rows + begin * d : nullptr;
    if (masks_unseen) {
      host_keep.resize(static_cast<std::size_t>(count));
      for (int64_t i = 0; i < count; ++i) host_keep[i] = unseen[begin + i] ? 0.0f : 1.0f;
      upload(device_, host_keep, &keep);
      tower.keep = keep.data();
      new_item_index(host_keep, &host_new_item);
      upload(device_, host_new_item, &new_item);
      tower.new_item = params + layout_.new_item;
      tower.new_item_index = new_item.data();
    }
    if (config_.use_text) {
      int64_t* dev_ids = grow(device_, count, &ids);
      k::copy_to_device(device_, dev_ids, item_ids + begin,
                        static_cast<std::size_t>(count) * sizeof(int64_t));
      gather_text_rows(device_, count, t, item_ids + begin, dev_ids, text_emb, 0,
                       grow(device_, count * t, &text));
      tower.text_rows = text.data();
      tower.adapter = params + layout_.adapter;
    }
    item_tower_forward(device_, tower, out + begin * d);
  }
}

void HybridModel::user_states(const float* params, int64_t n, const float* user_rows,
                              const int64_t* history, const float* item_vecs, const float* text_emb,
                              float* user_out, float* query_out) const {
  HYBREC_CHECK(n >= 0, "HybridModel::user_states: n = ", n);
  const int64_t d = config_.dim, t = config_.text_dim, len = config_.history_len;
  HistoryPacking packing;
  HistoryActivations acts;
  k::HostRowScatter host_query;
  DeviceScatter query;
  k::Buffer<float> query_inv;
  for (int64_t begin = 0; begin < n; begin += kUserChunk) {
    const int64_t count = std::min(kUserChunk, n - begin);
    float* users = user_out + begin * d;
    const int64_t* hist = history + begin * len;
    const int64_t vec_rows = rows_spanned(hist, count * len);
    if (config_.use_history) {
      pack_history(count, len, hist, false, vec_rows, &packing);
      upload_history_packing(device_, config_, packing, false, vec_rows, &acts);
      history_inputs(device_, config_, packing, vec_rows, item_vecs, params + layout_.positions,
                     &acts);
      history_encoder_forward(device_, config_, layout_, params, packing, &acts, users);
    } else {
      k::fill_zero(device_, users, static_cast<std::size_t>(count * d) * sizeof(float));
    }
    if (config_.use_id) k::add(device_, users, user_rows + begin * d, count * d, users);
    if (query_out != nullptr && t > 0) {
      float* q = query_out + begin * t;
      if (config_.use_text_score) {
        query_scatter(count, len, hist, &host_query);
        query.upload(device_, host_query, count);
        text_queries(device_, query.view(), vec_rows, t, text_emb, q,
                     grow(device_, count, &query_inv));
      } else {
        k::fill_zero(device_, q, static_cast<std::size_t>(count * t) * sizeof(float));
      }
    }
  }
}

void HybridModel::score_items(const float* params, int64_t n, const float* users,
                              const float* queries, int64_t num_items, const float* item_vecs,
                              const float* text_emb, const uint8_t* unseen, float* scores) const {
  HYBREC_CHECK(n >= 0 && num_items >= 0, "HybridModel::score_items: n = ", n,
               ", num_items = ", num_items);
  if (n == 0 || num_items == 0) return;
  const int64_t d = config_.dim;

  // u'^T W v = (W^T u') . v: one GEMM for W^T u' (linear's weight is W^T,
  // transposed on the device by a gather of single floats), one for the dot
  // products with every item.
  std::vector<int64_t> transpose(static_cast<std::size_t>(d * d));
  for (int64_t i = 0; i < d; ++i) {
    for (int64_t j = 0; j < d; ++j) transpose[static_cast<std::size_t>(j * d + i)] = i * d + j;
  }
  k::Buffer<int64_t> transpose_index(device_, transpose);
  k::Buffer<float> wt(device_, static_cast<std::size_t>(d * d));
  k::gather_rows(device_, params + layout_.bilinear, d * d, 1, transpose_index.data(), d * d,
                 wt.data(), false);
  k::Buffer<float> uw(device_, static_cast<std::size_t>(n * d));
  k::LinearParams p;
  p.n = n;
  p.in_features = d;
  p.out_features = d;
  p.x = users;
  p.weight = wt.data();
  p.y = uw.data();
  k::linear_forward(device_, p);
  k::LinearParams s;
  s.n = n;
  s.in_features = d;
  s.out_features = num_items;
  s.x = uw.data();
  s.weight = item_vecs;
  s.y = scores;
  k::linear_forward(device_, s);
  if (config_.use_text_score) fuse_text_scores(params, n, queries, num_items, text_emb, scores);
  if (!boosts_new_items(config_) || unseen == nullptr) return;

  // The boost as a row over the items, added to every user's row.
  std::vector<float> host_boost(static_cast<std::size_t>(num_items), 0.0f);
  for (int64_t j = 0; j < num_items; ++j) {
    if (unseen[j] != 0) host_boost[j] = config_.new_item_boost;
  }
  k::Buffer<float> boost(device_, host_boost);
  for (int64_t r = 0; r < n; ++r) {
    float* row = scores + r * num_items;
    k::add(device_, row, boost.data(), num_items, row);
  }
}

void HybridModel::fuse_text_scores(const float* params, int64_t n, const float* queries,
                                   int64_t num_items, const float* text_emb,
                                   float* scores) const {
  const int64_t t = config_.text_dim;

  k::Buffer<float> inv(device_, static_cast<std::size_t>(num_items));
  k::row_inverse_norms(device_, text_emb, num_items, t, inv.data());
  k::Buffer<float> g(device_, static_cast<std::size_t>(std::min(kScoreChunk, n) * num_items));
  for (int64_t begin = 0; begin < n; begin += kScoreChunk) {
    const int64_t count = std::min(kScoreChunk, n - begin);
    k::LinearParams c;
    c.n = count;
    c.in_features = t;
    c.out_features = num_items;
    c.x = queries + begin * t;
    c.weight = text_emb;
    c.y = g.data();
    k::linear_forward(device_, c);
    // g = text_scale * (q . t_j * inv_j): the cosine first, then the scale.
    for (int64_t r = 0; r < count; ++r) {
      float* row = g.data() + r * num_items;
      k::mul(device_, row, inv.data(), num_items, row);
    }
    k::scale_by(device_, params + layout_.text_scale, g.data(), count * num_items, g.data());
    k::FusedScoreParams f;
    f.batch = count * num_items;
    f.z = scores + begin * num_items;
    f.g = g.data();
    f.lambda = params + layout_.lambda;
    k::fused_score_forward(device_, f, scores + begin * num_items);
  }
}

}  // namespace hybrec::trainer
