#include "trainer/loop/stream_state.h"

#include <algorithm>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

StreamState::StreamState(const TrainingSet& set, ItemTextEncoder encode)
    : set_(set),
      encode_(std::move(encode)),
      text_dim_(set.data->text_dim),
      text_rows_(set.data->num_items),
      item_rows_(set.data->num_items),
      text_(set.data->item_text_emb) {}

std::vector<int64_t>& StreamState::history(int64_t user) {
  auto it = histories_.find(user);
  if (it != histories_.end()) return it->second;
  std::vector<int64_t>& h = histories_[user];
  if (user < set_.data->num_users) {
    h.assign(set_.train_items.begin() + set_.user_begin[user],
             set_.train_items.begin() + set_.user_begin[user + 1]);
  }
  return h;
}

const float* StreamState::text_row(int64_t item) const {
  HYBREC_CHECK(item >= 0 && item < text_rows_, "stream state: item ", item,
               " has no text row (rows: ", text_rows_, ")");
  return text_.data() + item * text_dim_;
}

int64_t StreamState::catalogue_items() const {
  return set_.data->num_items + static_cast<int64_t>(new_items_.size());
}

void StreamState::observe(const StreamEvent& e, NegativeSampler* sampler,
                          std::vector<int64_t>* added) {
  // Rows (text, batch slots) are indexed by id: new ids must follow the
  // dataset's, not be arbitrary 64-bit numbers.
  HYBREC_CHECK(
      e.user < set_.data->num_users + kMaxNewIds && e.item < set_.data->num_items + kMaxNewIds,
      "stream event at position ", e.position, ": user ", e.user, " / item ", e.item,
      " lies more than ", kMaxNewIds, " ids past the dataset's ", set_.data->num_users, " users / ",
      set_.data->num_items, " items (new ids must follow the dataset's)");
  history(e.user).push_back(e.item);
  // Items outside the training set (cold or new) become negatives once
  // they are trained on; add_item ignores items already there.
  if (sampler != nullptr) sampler->add_item(e.item);
  item_rows_ = std::max(item_rows_, e.item + 1);
  if (e.item < set_.data->num_items || new_text_.count(e.item) != 0) return;
  new_items_.push_back(e.item);
  new_text_[e.item] = e.item_text;
  added->push_back(e.item);
  if (text_dim_ == 0) return;
  if (e.item >= text_rows_) {
    text_.resize(static_cast<std::size_t>((e.item + 1) * text_dim_), 0.0f);
    text_rows_ = e.item + 1;
  }
  if (e.item_text.empty() || !encode_) return;
  const std::vector<float> v = encode_(e.item_text);
  HYBREC_CHECK(static_cast<int64_t>(v.size()) == text_dim_, "new item ", e.item,
               ": its text encoder gave ", v.size(), " dims; the dataset's text has ", text_dim_);
  std::copy(v.begin(), v.end(), text_.begin() + e.item * text_dim_);
}

std::vector<int64_t> StreamState::take(const std::vector<StreamEvent>& events, int rank, int ranks,
                                       int64_t history_len, NegativeSampler* sampler,
                                       std::vector<ExampleSpec>* specs,
                                       std::vector<int64_t>* histories,
                                       std::vector<std::vector<int64_t>>* seen) {
  std::vector<int64_t> added;
  const std::size_t mine = (events.size() + static_cast<std::size_t>(ranks - rank) - 1) /
                           static_cast<std::size_t>(ranks);
  specs->clear();
  histories->assign(mine * static_cast<std::size_t>(history_len), -1);
  if (seen != nullptr) seen->clear();
  for (std::size_t i = 0; i < events.size(); ++i) {
    const StreamEvent& e = events[i];
    if (i % static_cast<std::size_t>(ranks) == static_cast<std::size_t>(rank)) {
      const std::vector<int64_t>& h = history(e.user);
      const auto len = std::min<int64_t>(static_cast<int64_t>(h.size()), history_len);
      int64_t* dst = histories->data() + specs->size() * static_cast<std::size_t>(history_len);
      std::copy(h.end() - len, h.end(), dst);
      ExampleSpec spec;
      spec.user = e.user;
      spec.target = e.item;
      spec.epoch = kStreamEpoch;
      spec.key = static_cast<int64_t>(e.position);
      spec.history = dst;
      spec.history_size = len;
      specs->push_back(spec);
      if (seen != nullptr) seen->push_back(h);
    }
    observe(e, sampler, &added);
  }
  return added;
}

}  // namespace hybrec::trainer
