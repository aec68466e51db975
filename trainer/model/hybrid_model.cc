// HybridModel's training step: the forward over a deduplicated batch and the
// backward in reverse, reporting finished dense gradient ranges as it goes.
#include "trainer/model/hybrid_model.h"

#include <cstring>

#include "hybrec/kernels/error.h"
#include "trainer/model/grad_ready.h"
#include "trainer/model/history_encoder.h"
#include "trainer/model/item_tower.h"
#include "trainer/model/model_workspace.h"
#include "trainer/model/scoring.h"
#include "trainer/model/text_score.h"

namespace hybrec::trainer {
namespace {

template <typename T>
T* grow(std::vector<T>* v, int64_t n) {
  v->resize(static_cast<std::size_t>(n));
  return v->data();
}

bool needs_text(const ModelConfig& c) { return c.use_text || c.use_text_score; }

void check_slots(const std::vector<int32_t>& slots, int64_t limit, bool allow_padding,
                 const char* what) {
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const int32_t s = slots[i];
    HYBREC_CHECK((s >= 0 || (allow_padding && s == -1)) && s < limit, "Batch::", what, "[", i,
                 "] = ", s, " out of range [", allow_padding ? -1 : 0, ", ", limit, ")");
  }
}

void check_inputs(const ModelConfig& c, const HybridModel::StepInputs& in) {
  HYBREC_CHECK(in.batch != nullptr, "HybridModel: StepInputs::batch is null");
  HYBREC_CHECK(in.params != nullptr, "HybridModel: StepInputs::params is null");
  const Batch& b = *in.batch;
  const int64_t users = static_cast<int64_t>(b.user_ids.size());
  const int64_t items = static_cast<int64_t>(b.item_ids.size());
  HYBREC_CHECK(b.size >= 0, "Batch::size = ", b.size, " is negative");
  HYBREC_CHECK(b.candidates >= 1, "Batch::candidates = ", b.candidates, " must be at least 1");
  HYBREC_CHECK(b.history_len == c.history_len, "Batch::history_len = ", b.history_len,
               " differs from model.history_len = ", c.history_len);
  HYBREC_CHECK(static_cast<int64_t>(b.user_slot.size()) == b.size, "Batch::user_slot has ",
               b.user_slot.size(), " entries, expected size = ", b.size);
  HYBREC_CHECK(static_cast<int64_t>(b.cand_slot.size()) == b.size * b.candidates,
               "Batch::cand_slot has ", b.cand_slot.size(), " entries, expected ",
               b.size * b.candidates);
  HYBREC_CHECK(static_cast<int64_t>(b.hist_slot.size()) == b.size * b.history_len,
               "Batch::hist_slot has ", b.hist_slot.size(), " entries, expected ",
               b.size * b.history_len);
  HYBREC_CHECK(b.log_q.empty() || static_cast<int64_t>(b.log_q.size()) == b.size * b.candidates,
               "Batch::log_q has ", b.log_q.size(), " entries, expected 0 or ",
               b.size * b.candidates);
  check_slots(b.user_slot, users, false, "user_slot");
  check_slots(b.cand_slot, items, false, "cand_slot");
  check_slots(b.hist_slot, items, true, "hist_slot");
  HYBREC_CHECK(!c.use_id || users == 0 || in.user_rows != nullptr,
               "HybridModel: use_id needs StepInputs::user_rows");
  HYBREC_CHECK(!c.use_id || items == 0 || in.item_rows != nullptr,
               "HybridModel: use_id needs StepInputs::item_rows");
  HYBREC_CHECK(!needs_text(c) || items == 0 || in.text_emb != nullptr,
               "HybridModel: use_text / use_text_score need StepInputs::text_emb");
}

// The forward of a step; leaves everything the backward needs in ws.
float forward(const ModelConfig& c, const ParamLayout& layout, const HybridModel::StepInputs& in,
              bool dropout, ModelWorkspace* ws) {
  const Batch& batch = *in.batch;
  const int64_t bsz = batch.size, cands = batch.candidates, len = batch.history_len;
  const int64_t d = c.dim, t = c.text_dim;
  const int64_t num_items = static_cast<int64_t>(batch.item_ids.size());
  const float* params = in.params;

  const float* keep = nullptr;
  if (dropout && c.use_id && c.id_dropout > 0.0f) {
    float* k = grow(&ws->keep, num_items);
    for (int64_t i = 0; i < num_items; ++i) {
      k[i] = id_keep(in.dropout_seed, batch.item_ids[static_cast<std::size_t>(i)], c.id_dropout);
    }
    keep = k;
  }
  if (needs_text(c)) {
    gather_text_rows(num_items, t, batch.item_ids.data(), in.text_emb, in.num_text_rows,
                     grow(&ws->text_rows, num_items * t));
  }

  ItemTowerArgs tower;
  tower.n = num_items;
  tower.dim = d;
  tower.text_dim = t;
  tower.id_rows = c.use_id ? in.item_rows : nullptr;
  tower.keep = keep;
  tower.text_rows = c.use_text ? ws->text_rows.data() : nullptr;
  tower.adapter = c.use_text ? params + layout.adapter : nullptr;
  item_tower_forward(tower, grow(&ws->item_vecs, num_items * d));

  float* users = grow(&ws->users, bsz * d);
  if (c.use_history) {
    history_inputs(bsz, len, d, batch.hist_slot.data(), ws->item_vecs.data(),
                   params + layout.positions, &ws->history);
    history_encoder_forward(c, layout, params, bsz, &ws->history, users);
  } else {
    std::memset(users, 0, static_cast<std::size_t>(bsz * d) * sizeof(float));
  }
  if (c.use_id) {
    for (int64_t b = 0; b < bsz; ++b) {
      const float* e =
          in.user_rows + static_cast<int64_t>(batch.user_slot[static_cast<std::size_t>(b)]) * d;
      for (int64_t k = 0; k < d; ++k) users[b * d + k] += e[k];
    }
  }

  ScoreArgs score;
  score.batch = bsz;
  score.cands = cands;
  score.dim = d;
  score.users = users;
  score.items = ws->item_vecs.data();
  score.cand = batch.cand_slot.data();
  if (c.use_text_score) {
    text_inverse_norms(num_items, t, ws->text_rows.data(), grow(&ws->text_inv, num_items));
    text_queries(bsz, len, t, batch.hist_slot.data(), ws->text_rows.data(),
                 grow(&ws->queries, bsz * t));
    text_cosines(bsz, cands, t, ws->queries.data(), batch.cand_slot.data(), ws->text_rows.data(),
                 ws->text_inv.data(), grow(&ws->cos, bsz * cands));
    score.cos = ws->cos.data();
  }
  const float* log_q = batch.log_q.empty() ? nullptr : batch.log_q.data();
  return score_and_loss_forward(c, layout, params, score, log_q, &ws->scoring);
}

}  // namespace

HybridModel::HybridModel(const ModelConfig& config)
    : config_(config), workspace_(std::make_unique<ModelWorkspace>()) {
  validate(config_);
  layout_ = make_param_layout(config_, &tensors_);
  num_params_ = layout_.total;
}

HybridModel::HybridModel(const HybridModel& other)
    : config_(other.config_),
      tensors_(other.tensors_),
      num_params_(other.num_params_),
      layout_(other.layout_),
      workspace_(std::make_unique<ModelWorkspace>()) {}

HybridModel& HybridModel::operator=(const HybridModel& other) {
  if (this != &other) {
    config_ = other.config_;
    tensors_ = other.tensors_;
    num_params_ = other.num_params_;
    layout_ = other.layout_;
    workspace_ = std::make_unique<ModelWorkspace>();
  }
  return *this;
}

HybridModel::HybridModel(HybridModel&&) noexcept = default;
HybridModel& HybridModel::operator=(HybridModel&&) noexcept = default;
HybridModel::~HybridModel() = default;

const DenseTensor* HybridModel::find_tensor(const std::string& name) const {
  for (const DenseTensor& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

float HybridModel::forward_loss(const StepInputs& in, float* logits) const {
  check_inputs(config_, in);
  std::lock_guard<std::mutex> lock(workspace_->mutex);
  const float loss = forward(config_, layout_, in, false, workspace_.get());
  if (logits != nullptr) {
    const std::vector<float>& z = workspace_->scoring.logits;
    std::memcpy(logits, z.data(),
                static_cast<std::size_t>(in.batch->size * in.batch->candidates) * sizeof(float));
  }
  return loss;
}

float HybridModel::forward_backward(const StepInputs& in, const StepOutputs& out) const {
  check_inputs(config_, in);
  HYBREC_CHECK(out.dense_grad != nullptr, "HybridModel::forward_backward: dense_grad is null");
  std::lock_guard<std::mutex> lock(workspace_->mutex);
  ModelWorkspace* ws = workspace_.get();
  const float loss = forward(config_, layout_, in, in.training, ws);

  const Batch& batch = *in.batch;
  const int64_t bsz = batch.size, cands = batch.candidates, len = batch.history_len;
  const int64_t d = config_.dim;
  const int64_t num_users = static_cast<int64_t>(batch.user_ids.size());
  const int64_t num_items = static_cast<int64_t>(batch.item_ids.size());
  float* grad = out.dense_grad;
  std::memset(grad, 0, static_cast<std::size_t>(num_params_) * sizeof(float));
  GradReadyTracker ready(out.grad_ready, num_params_);

  ScoreArgs score;
  score.batch = bsz;
  score.cands = cands;
  score.dim = d;
  score.users = ws->users.data();
  score.items = ws->item_vecs.data();
  score.cand = batch.cand_slot.data();
  score.cos = config_.use_text_score ? ws->cos.data() : nullptr;
  float* dusers = grow(&ws->dusers, bsz * d);
  float* ditems = grow(&ws->ditems, num_items * d);
  std::memset(ditems, 0, static_cast<std::size_t>(num_items * d) * sizeof(float));
  const float* log_q = batch.log_q.empty() ? nullptr : batch.log_q.data();
  score_and_loss_backward(config_, layout_, in.params, score, log_q, &ws->scoring, grad, &ready,
                          dusers, ditems);

  if (out.user_row_grads != nullptr) {
    std::memset(out.user_row_grads, 0, static_cast<std::size_t>(num_users * d) * sizeof(float));
    if (config_.use_id) {
      for (int64_t b = 0; b < bsz; ++b) {
        float* g = out.user_row_grads +
                   static_cast<int64_t>(batch.user_slot[static_cast<std::size_t>(b)]) * d;
        for (int64_t k = 0; k < d; ++k) g[k] += dusers[b * d + k];
      }
    }
  }

  if (config_.use_history) {
    history_encoder_backward(config_, layout_, in.params, bsz, dusers, grad, &ready, &ws->history);
    history_inputs_backward(bsz, len, d, batch.hist_slot.data(), ws->history, ditems,
                            grad + layout_.positions);
    ready.finish(layout_.positions);
  }

  ItemTowerArgs tower;
  tower.n = num_items;
  tower.dim = d;
  tower.text_dim = config_.text_dim;
  tower.id_rows = config_.use_id ? in.item_rows : nullptr;
  const bool dropped = in.training && config_.use_id && config_.id_dropout > 0.0f;
  tower.keep = dropped ? ws->keep.data() : nullptr;
  tower.text_rows = config_.use_text ? ws->text_rows.data() : nullptr;
  tower.adapter = config_.use_text ? in.params + layout_.adapter : nullptr;
  item_tower_backward(tower, ditems, out.item_row_grads,
                      config_.use_text ? grad + layout_.adapter : nullptr);
  ready.finish(0);
  return loss;
}

}  // namespace hybrec::trainer
