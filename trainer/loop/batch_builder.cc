#include "trainer/loop/batch_builder.h"

#include <algorithm>

namespace hybrec::trainer {

BatchBuilder::BatchBuilder(const TrainingSet& set, const NegativeSampler& sampler,
                           int64_t negatives, int64_t history_len)
    : set_(set),
      sampler_(sampler),
      negatives_(negatives),
      history_len_(history_len),
      user_slots_(static_cast<std::size_t>(set.data->num_users), -1),
      item_slots_(static_cast<std::size_t>(set.data->num_items), -1),
      negative_items_(static_cast<std::size_t>(negatives)),
      negative_log_q_(static_cast<std::size_t>(negatives)) {}

int32_t BatchBuilder::user_slot(int64_t user, Batch* batch) {
  if (static_cast<std::size_t>(user) >= user_slots_.size()) {
    user_slots_.resize(static_cast<std::size_t>(user) + 1, -1);
  }
  int32_t& slot = user_slots_[user];
  if (slot < 0) {
    slot = static_cast<int32_t>(batch->user_ids.size());
    batch->user_ids.push_back(user);
  }
  return slot;
}

int32_t BatchBuilder::item_slot(int64_t item, Batch* batch) {
  if (static_cast<std::size_t>(item) >= item_slots_.size()) {
    item_slots_.resize(static_cast<std::size_t>(item) + 1, -1);
  }
  int32_t& slot = item_slots_[item];
  if (slot < 0) {
    slot = static_cast<int32_t>(batch->item_ids.size());
    batch->item_ids.push_back(item);
  }
  return slot;
}

void BatchBuilder::build(int64_t epoch, const int64_t* examples, int64_t n, Batch* batch) {
  specs_.resize(static_cast<std::size_t>(n));
  for (int64_t b = 0; b < n; ++b) {
    const int64_t e = examples[b];
    const int64_t user = set_.example_user[e];
    ExampleSpec& spec = specs_[b];
    spec.user = user;
    spec.target = set_.data->item[set_.examples[e]];
    spec.epoch = epoch;
    spec.key = e;
    spec.history = set_.train_items.data() + set_.user_begin[user];
    spec.history_size = set_.example_pos[e];  // the training items before this event
  }
  build(specs_.data(), n, batch);
}

void BatchBuilder::build(const ExampleSpec* examples, int64_t n, Batch* batch) {
  const int64_t C = 1 + negatives_, L = history_len_;
  batch->size = n;
  batch->candidates = C;
  batch->history_len = L;
  batch->user_ids.clear();
  batch->item_ids.clear();
  batch->user_slot.resize(static_cast<std::size_t>(n));
  batch->cand_slot.resize(static_cast<std::size_t>(n * C));
  batch->hist_slot.resize(static_cast<std::size_t>(n * L));
  batch->log_q.resize(static_cast<std::size_t>(n * C));

  for (int64_t b = 0; b < n; ++b) {
    const ExampleSpec& e = examples[b];
    batch->user_slot[b] = user_slot(e.user, batch);

    batch->cand_slot[b * C] = item_slot(e.target, batch);
    batch->log_q[b * C] = 0.0f;
    sampler_.sample(e.epoch, e.key, e.target, negatives_, negative_items_.data(),
                    negative_log_q_.data());
    for (int64_t c = 1; c < C; ++c) {
      batch->cand_slot[b * C + c] = item_slot(negative_items_[c - 1], batch);
      batch->log_q[b * C + c] = negative_log_q_[c - 1];
    }

    // The last L items before this event, left-padded with -1.
    const int64_t len = std::min(e.history_size, L);
    int32_t* hist = batch->hist_slot.data() + b * L;
    std::fill(hist, hist + (L - len), -1);
    for (int64_t l = 0; l < len; ++l) {
      hist[L - len + l] = item_slot(e.history[e.history_size - len + l], batch);
    }
  }
  for (int64_t u : batch->user_ids) user_slots_[u] = -1;
  for (int64_t j : batch->item_ids) item_slots_[j] = -1;
}

}  // namespace hybrec::trainer
