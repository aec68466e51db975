// HybridModel's training step: the forward over a deduplicated batch and the
// backward in reverse, reporting finished dense gradient ranges as it goes.
#include "trainer/model/hybrid_model.h"

#include <mutex>

#include "hybrec/kernels/error.h"
#include "trainer/model/grad_ready.h"
#include "trainer/model/history_encoder.h"
#include "trainer/model/item_tower.h"
#include "trainer/model/model_workspace.h"
#include "trainer/model/scoring.h"
#include "trainer/model/text_score.h"

namespace hybrec::trainer {
namespace {

bool needs_text(const ModelConfig& c) { return c.use_text || c.use_text_score; }

bool drops_ids(const ModelConfig& c, bool dropout) {
  return dropout && c.use_id && c.id_dropout > 0.0f;
}

// Dropped items take the learned new-item vector (ModelConfig::unseen_items).
bool takes_new_item(const ModelConfig& c, bool dropout) {
  return drops_ids(c, dropout) && c.unseen_items == UnseenItems::kLearned;
}

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

// Builds the step's index arrays on the host from the Batch and uploads
// each once. backward: also the scatters the backward needs.
void stage_indices(const ModelConfig& c, const HybridModel::StepInputs& in, bool dropout,
                   bool backward, ModelActivations* ws) {
  const kernels::Device& dev = ws->device;
  const Batch& batch = *in.batch;
  StepIndexArrays& h = ws->host;
  const int64_t bsz = batch.size, cands = batch.candidates, n = bsz * cands;
  const int64_t num_users = static_cast<int64_t>(batch.user_ids.size());
  const int64_t num_items = static_cast<int64_t>(batch.item_ids.size());
  widen(batch.cand_slot, &h.cand);
  h.pair_user.resize(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) h.pair_user[static_cast<std::size_t>(i)] = i / cands;
  upload(dev, h.cand, &ws->cand);
  upload(dev, h.pair_user, &ws->pair_user);
  if (needs_text(c)) upload(dev, batch.item_ids, &ws->item_ids);
  if (!batch.log_q.empty()) upload(dev, batch.log_q, &ws->log_q);
  if (c.use_id) {
    widen(batch.user_slot, &h.user_slot);
    upload(dev, h.user_slot, &ws->user_slot);
  }
  if (drops_ids(c, dropout)) {
    h.keep.resize(static_cast<std::size_t>(num_items));
    for (int64_t i = 0; i < num_items; ++i) {
      h.keep[static_cast<std::size_t>(i)] =
          id_keep(in.dropout_seed, batch.item_ids[static_cast<std::size_t>(i)], c.id_dropout);
    }
    upload(dev, h.keep, &ws->keep);
    if (in.dropped_item_rows != nullptr) {
      h.drop.resize(h.keep.size());
      for (std::size_t i = 0; i < h.keep.size(); ++i) h.drop[i] = 1.0f - h.keep[i];
      upload(dev, h.drop, &ws->drop);
    }
  }
  if (takes_new_item(c, dropout)) {
    new_item_index(h.keep, &h.new_item);
    upload(dev, h.new_item, &ws->new_item);
    if (backward) {
      kernels::make_row_scatter(h.new_item.data(), num_items, 1, &h.new_item_rows);
      ws->new_item_rows.upload(dev, h.new_item_rows, 1);
    }
  }
  if (c.loss == Loss::kBce) {
    h.labels.assign(static_cast<std::size_t>(n), 0.0f);
    for (int64_t b = 0; b < bsz; ++b) h.labels[static_cast<std::size_t>(b * cands)] = 1.0f;
    upload(dev, h.labels, &ws->labels);
  }
  if (c.use_text_score) {
    query_scatter(bsz, batch.history_len, batch.hist_slot.data(), &h.query);
    ws->query.upload(dev, h.query, bsz);
  }
  if (c.use_history) {
    pack_history(bsz, batch.history_len, batch.hist_slot.data(), backward, num_items, &h.history);
    upload_history_packing(dev, c, h.history, backward, num_items, &ws->history);
  }
  if (!backward) return;
  kernels::make_row_scatter(h.pair_user.data(), n, bsz, &h.pairs_to_users);
  kernels::make_row_scatter(h.cand.data(), n, num_items, &h.pairs_to_items);
  ws->pairs_to_users.upload(dev, h.pairs_to_users, bsz);
  ws->pairs_to_items.upload(dev, h.pairs_to_items, num_items);
  if (c.use_id) {
    kernels::make_row_scatter(h.user_slot.data(), bsz, num_users, &h.users_to_rows);
    ws->users_to_rows.upload(dev, h.users_to_rows, num_users);
  }
}

ScoreArgs score_args(const ModelConfig& c, const Batch& batch, const ModelActivations& ws) {
  ScoreArgs a;
  a.batch = batch.size;
  a.cands = batch.candidates;
  a.dim = c.dim;
  a.num_items = static_cast<int64_t>(batch.item_ids.size());
  a.users = ws.users.data();
  a.items = ws.item_vecs.data();
  a.pair_user = ws.pair_user.data();
  a.cand = ws.cand.data();
  a.cos = c.use_text_score ? ws.cos.data() : nullptr;
  a.log_q = batch.log_q.empty() ? nullptr : ws.log_q.data();
  a.labels = c.loss == Loss::kBce ? ws.labels.data() : nullptr;
  a.to_users = ws.pairs_to_users.view();
  a.to_items = ws.pairs_to_items.view();
  return a;
}

ItemTowerArgs tower_args(const ModelConfig& c, const ParamLayout& layout,
                         const HybridModel::StepInputs& in, bool dropout,
                         const ModelActivations& ws) {
  ItemTowerArgs tower;
  tower.n = static_cast<int64_t>(in.batch->item_ids.size());
  tower.dim = c.dim;
  tower.text_dim = c.text_dim;
  tower.id_rows = c.use_id ? in.item_rows : nullptr;
  tower.keep = drops_ids(c, dropout) ? ws.keep.data() : nullptr;
  if (tower.keep != nullptr && tower.id_rows != nullptr && in.dropped_item_rows != nullptr) {
    tower.dropped_rows = in.dropped_item_rows;
    tower.drop = ws.drop.data();
  }
  tower.text_rows = c.use_text ? ws.text_rows.data() : nullptr;
  tower.adapter = c.use_text ? in.params + layout.adapter : nullptr;
  if (takes_new_item(c, dropout)) {
    tower.new_item = in.params + layout.new_item;
    tower.new_item_index = ws.new_item.data();
    tower.new_item_rows = ws.new_item_rows.view();
  }
  return tower;
}

// The forward of a step; leaves everything the backward needs in ws and the
// mean loss in ws->scoring.loss (on the device).
void forward(const ModelConfig& c, const ParamLayout& layout, const HybridModel::StepInputs& in,
             bool dropout, bool backward, ModelActivations* ws) {
  const kernels::Device& dev = ws->device;
  const Batch& batch = *in.batch;
  const int64_t bsz = batch.size, n = bsz * batch.candidates;
  const int64_t d = c.dim, t = c.text_dim;
  const int64_t num_users = static_cast<int64_t>(batch.user_ids.size());
  const int64_t num_items = static_cast<int64_t>(batch.item_ids.size());
  const float* params = in.params;
  stage_indices(c, in, dropout, backward, ws);

  if (needs_text(c)) {
    gather_text_rows(dev, num_items, t, batch.item_ids.data(), ws->item_ids.data(), in.text_emb,
                     in.num_text_rows, grow(dev, num_items * t, &ws->text_rows));
  }
  item_tower_forward(dev, tower_args(c, layout, in, dropout, *ws),
                     grow(dev, num_items * d, &ws->item_vecs));

  float* users = grow(dev, bsz * d, &ws->users);
  if (c.use_history) {
    history_inputs(dev, c, ws->host.history, num_items, ws->item_vecs.data(),
                   params + layout.positions, &ws->history);
    history_encoder_forward(dev, c, layout, params, ws->host.history, &ws->history, users);
  } else {
    kernels::fill_zero(dev, users, static_cast<std::size_t>(bsz * d) * sizeof(float));
  }
  if (c.use_id) {  // u' = s_u + e_u
    kernels::gather_rows(dev, in.user_rows, num_users, d, ws->user_slot.data(), bsz, users, true);
  }

  if (c.use_text_score) {
    float* inv = grow(dev, num_items, &ws->text_inv);
    kernels::row_inverse_norms(dev, ws->text_rows.data(), num_items, t, inv);
    text_queries(dev, ws->query.view(), num_items, t, ws->text_rows.data(),
                 grow(dev, bsz * t, &ws->queries), grow(dev, bsz, &ws->query_inv));
    text_cosines(dev, n, t, ws->queries.data(), ws->pair_user.data(), ws->text_rows.data(),
                 num_items, inv, ws->cand.data(), grow(dev, n, &ws->pair_inv),
                 grow(dev, n, &ws->cos));
  }
  score_and_loss_forward(dev, c, layout, params, score_args(c, batch, *ws), &ws->scoring);
}

float read_loss(const ModelActivations& ws) {
  float loss = 0.0f;
  kernels::copy_to_host(ws.device, &loss, ws.scoring.loss.data(), sizeof(float));
  return loss;
}

}  // namespace

HybridModel::HybridModel(const ModelConfig& config, const kernels::Device& device)
    : config_(config), device_(device), acts_(std::make_unique<ModelActivations>(device)) {
  validate(config_);
  layout_ = make_param_layout(config_, &tensors_);
  num_params_ = layout_.total;
}

HybridModel::HybridModel(const HybridModel& other)
    : config_(other.config_),
      device_(other.device_),
      tensors_(other.tensors_),
      num_params_(other.num_params_),
      layout_(other.layout_),
      acts_(std::make_unique<ModelActivations>(other.device_)) {}

HybridModel& HybridModel::operator=(const HybridModel& other) {
  if (this != &other) {
    config_ = other.config_;
    device_ = other.device_;
    tensors_ = other.tensors_;
    num_params_ = other.num_params_;
    layout_ = other.layout_;
    acts_ = std::make_unique<ModelActivations>(device_);
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
  std::lock_guard<std::mutex> lock(acts_->mutex);
  forward(config_, layout_, in, false, false, acts_.get());
  if (logits != nullptr) {
    kernels::copy(acts_->device, acts_->scoring.logits.data(),
                  in.batch->size * in.batch->candidates, logits);
  }
  return read_loss(*acts_);
}

float HybridModel::forward_backward(const StepInputs& in, const StepOutputs& out) const {
  check_inputs(config_, in);
  HYBREC_CHECK(out.dense_grad != nullptr, "HybridModel::forward_backward: dense_grad is null");
  std::lock_guard<std::mutex> lock(acts_->mutex);
  ModelActivations* ws = acts_.get();
  const kernels::Device& dev = ws->device;
  forward(config_, layout_, in, in.training, true, ws);

  const Batch& batch = *in.batch;
  const int64_t bsz = batch.size, d = config_.dim;
  const int64_t num_users = static_cast<int64_t>(batch.user_ids.size());
  const int64_t num_items = static_cast<int64_t>(batch.item_ids.size());
  float* grad = out.dense_grad;
  kernels::fill_zero(dev, grad, static_cast<std::size_t>(num_params_) * sizeof(float));
  GradReadyTracker ready(out.grad_ready, num_params_);

  float* dusers = grow(dev, bsz * d, &ws->dusers);
  float* ditems = grow(dev, num_items * d, &ws->ditems);
  kernels::fill_zero(dev, ditems, static_cast<std::size_t>(num_items * d) * sizeof(float));
  score_and_loss_backward(dev, config_, layout_, in.params, score_args(config_, batch, *ws),
                          &ws->scoring, grad, &ready, dusers, ditems);

  if (out.user_row_grads != nullptr) {
    kernels::fill_zero(dev, out.user_row_grads,
                       static_cast<std::size_t>(num_users * d) * sizeof(float));
    if (config_.use_id) {  // each user's examples in batch order
      kernels::scatter_add_rows(dev, ws->users_to_rows.view(), dusers, bsz, d, out.user_row_grads);
    }
  }

  if (config_.use_history) {
    history_encoder_backward(dev, config_, layout_, in.params, ws->host.history, dusers, grad,
                             &ready, &ws->history);
    history_inputs_backward(dev, d, ws->host.history, ws->history, ditems,
                            grad + layout_.positions);
    ready.finish(layout_.positions);
  }

  item_tower_backward(dev, tower_args(config_, layout_, in, in.training, *ws), ditems,
                      out.item_row_grads, config_.use_text ? grad + layout_.adapter : nullptr,
                      layout_.new_item >= 0 ? grad + layout_.new_item : nullptr);
  ready.finish(0);
  if (out.while_running) out.while_running();
  return read_loss(*ws);
}

}  // namespace hybrec::trainer
