#include "serving/model_snapshot.h"

#include <algorithm>
#include <cmath>

#include "hybrec/kernels/error.h"
#include "serving/candidates.h"
#include "trainer/model/id_tables.h"
#include "trainer/model/neighbor_rows.h"

namespace hybrec::serving {

namespace {

constexpr int64_t kPullChunk = 65536;

float param_scalar(const trainer::HybridModel& model, const std::vector<float>& params,
                   const char* name) {
  const trainer::DenseTensor* t = model.find_tensor(name);
  HYBREC_CHECK(t != nullptr, "serving: the model has no tensor \"", name, "\"");
  return params[static_cast<std::size_t>(t->offset)];
}

}  // namespace

std::shared_ptr<const ModelSnapshot> build_model_snapshot(SnapshotInputs in) {
  HYBREC_CHECK(in.model != nullptr, "build_model_snapshot: no model");
  const trainer::HybridModel& model = *in.model;
  const trainer::ModelConfig& c = model.config();
  HYBREC_CHECK(static_cast<int64_t>(in.params.size()) == model.num_params(),
               "serving: ", in.params.size(), " dense parameters for a model of ",
               model.num_params());
  const int64_t n = in.base_items + static_cast<int64_t>(in.new_ids.size());
  const int64_t d = c.dim, t = c.use_text ? c.text_dim : 0;
  HYBREC_CHECK(n >= 1, "serving: an empty catalogue (", n, " items)");
  HYBREC_CHECK(t == 0 || static_cast<int64_t>(in.text_emb.size()) == n * t,
               "serving: ", in.text_emb.size(), " text floats for ", n, " items of dim ", t);

  auto s = std::make_shared<ModelSnapshot>();
  s->version = in.version;
  s->built_at = std::chrono::system_clock::now();
  s->rows_from = std::move(in.rows_from);
  s->step_dir = std::move(in.step_dir);
  s->num_items = n;
  s->base_items = in.base_items;
  s->item_ids.resize(static_cast<std::size_t>(n));
  for (int64_t j = 0; j < in.base_items; ++j) s->item_ids[j] = j;
  for (std::size_t i = 0; i < in.new_ids.size(); ++i) {
    const int64_t slot = in.base_items + static_cast<int64_t>(i);
    HYBREC_CHECK(in.new_ids[i] >= in.base_items && s->new_slots.count(in.new_ids[i]) == 0,
                 "serving: new item id ", in.new_ids[i], " is a dataset item or given twice");
    s->item_ids[slot] = in.new_ids[i];
    s->new_slots[in.new_ids[i]] = slot;
  }
  s->dim = d;
  s->text_dim = t;

  // Rows are pulled by item id; the item tower indexes text by slot.
  std::vector<float> rows;
  if (c.use_id) {
    rows.resize(static_cast<std::size_t>(n * d));
    for (int64_t first = 0; first < n; first += kPullChunk) {
      const int64_t count = std::min(kPullChunk, n - first);
      in.item_rows(trainer::kItemTable, s->item_ids.data() + first, count, rows.data() + first * d);
    }
  }
  std::vector<int64_t> slots(static_cast<std::size_t>(n));
  for (int64_t j = 0; j < n; ++j) slots[j] = j;
  s->item_vecs.resize(static_cast<std::size_t>(n * d));
  const std::vector<uint8_t> unseen =
      trainer::prepare_item_rows_for_ranking(c, in.text_emb.empty() ? nullptr : in.text_emb.data(),
                                             rows.empty() ? 0 : n, rows.data(), in.neighbor_cache);
  model.item_vectors(in.params.data(), n, slots.data(), rows.empty() ? nullptr : rows.data(),
                     in.text_emb.empty() ? nullptr : in.text_emb.data(),
                     rows.empty() ? nullptr : unseen.data(), s->item_vecs.data());

  const bool text_score = c.use_text_score && t > 0;
  const bool boost = trainer::boosts_new_items(c) && !rows.empty();
  const int64_t D = (text_score ? d + t : d) + (boost ? 1 : 0);
  s->score_dim = D;
  s->text_score = text_score;
  s->new_item_boost = boost ? c.new_item_boost : 0.0f;
  s->scoring_items.assign(static_cast<std::size_t>(n * D), 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    float* dst = s->scoring_items.data() + j * D;
    std::copy_n(s->item_vecs.data() + j * d, d, dst);
    if (text_score) std::copy_n(in.text_emb.data() + j * t, t, dst + d);
    if (boost && unseen[j] != 0) dst[D - 1] = 1.0f;
  }

  const trainer::DenseTensor* w = model.find_tensor("bilinear");
  HYBREC_CHECK(w != nullptr, "serving: the model has no bilinear form");
  float cf = 1.0f, text = 0.0f;
  if (text_score) {
    const float lambda = param_scalar(model, in.params, "lambda");
    const float scale = param_scalar(model, in.params, "text_scale");
    cf = 1.0f / std::sqrt(1.0f + lambda * lambda);
    text = lambda * scale * cf;
  }
  s->cf_weight = cf;
  s->text_weight = text;
  s->scoring_form.assign(static_cast<std::size_t>(D * D), 0.0f);
  for (int64_t i = 0; i < d; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      s->scoring_form[static_cast<std::size_t>(i * D + j)] =
          in.params[static_cast<std::size_t>(w->offset + i * d + j)] * cf;
    }
  }
  if (text_score) {
    for (int64_t i = d; i < d + t; ++i) s->scoring_form[static_cast<std::size_t>(i * D + i)] = text;
  }
  if (boost) s->scoring_form[static_cast<std::size_t>((D - 1) * D + D - 1)] = s->new_item_boost;

  s->model = std::move(in.model);
  s->params = std::move(in.params);
  s->text_emb = std::move(in.text_emb);
  if (in.index.kind != IndexKind::kExact) {
    HYBREC_CHECK(in.user_vectors != nullptr, "serving: an index needs the recall sample's vectors");
    build_candidate_index(*s, in.index, in.recall_users, in.user_vectors(*s, in.recall_users));
  }
  return s;
}

}  // namespace hybrec::serving
