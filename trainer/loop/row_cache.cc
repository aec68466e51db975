#include "trainer/loop/row_cache.h"

#include <algorithm>
#include <cstring>

#include "hybrec/kernels/elementwise.h"
#include "hybrec/kernels/embedding.h"
#include "hybrec/kernels/error.h"
#include "hybrec/kernels/splitmix.h"
#include "parameter_server/wire/row_update.h"
#include "trainer/model/device_arrays.h"

namespace hybrec::trainer {

RowCache::RowCache(const ps::TableSpec& spec, int64_t capacity, bool write_through,
                   const kernels::Device& device, RowCacheBacking backing)
    : spec_(spec),
      capacity_(capacity),
      dim_(spec.dim),
      state_floats_(ps::state_floats(spec)),
      width_(dim_ + state_floats_),
      write_through_(write_through),
      device_(device),
      backing_(std::move(backing)) {
  HYBREC_CHECK(capacity_ > 0, "row cache of table ", spec.name, ": capacity ", capacity_,
               " rows must be > 0");
  HYBREC_CHECK(!device_.is_cuda() || spec_.optimizer == ps::Optimizer::kRowwiseAdagrad,
               "row cache of table ", spec.name,
               ": on CUDA the cache applies row-wise Adagrad only (Adam's device update takes "
               "one step count for all rows, the server counts per row); set "
               "train.sparse_optimizer = \"rowwise_adagrad\" or train.cache_rows = 0");
  rows_ = kernels::Buffer<float>(device_, static_cast<std::size_t>(capacity_ * dim_));
  if (state_floats_ > 0) {
    state_ = kernels::Buffer<float>(device_, static_cast<std::size_t>(capacity_ * state_floats_));
  }
  base_.assign(static_cast<std::size_t>(capacity_ * width_), 0.0f);
  slot_key_.assign(static_cast<std::size_t>(capacity_), -1);
  dirty_.assign(static_cast<std::size_t>(capacity_), 0);
  held_.assign(static_cast<std::size_t>(capacity_), 0);
  slot_seen_.assign(static_cast<std::size_t>(capacity_), 0);
  clear();
}

void RowCache::clear() {
  for (int64_t key : slot_key_) {
    if (key >= 0) entries_[key].slot = -1;
  }
  std::fill(slot_key_.begin(), slot_key_.end(), -1);
  std::fill(dirty_.begin(), dirty_.end(), 0);
  std::fill(held_.begin(), held_.end(), 0);
  free_.resize(static_cast<std::size_t>(capacity_));
  // Popped from the back: slot 0 is used first.
  for (int64_t s = 0; s < capacity_; ++s) free_[s] = capacity_ - 1 - s;
}

int64_t RowCache::lookup(const int64_t* keys, int64_t n, int64_t* slots) {
  for (int64_t i = 0; i < n; ++i) {
    Entry& e = entries_[keys[i]];
    ++e.seen;
    slots[i] = e.slot;
    if (e.slot < 0) continue;
    slot_seen_[e.slot] = e.seen;
    ++held_[e.slot];
    ++stats_.hits;
  }
  stats_.lookups += n;
  return updates_;
}

void RowCache::release(const int64_t* slots, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (slots[i] >= 0) --held_[slots[i]];
  }
}

void RowCache::assemble(const int64_t* slots, int64_t n, const float* miss_rows, float* out) {
  // The misses' rows (zeros at the hits) go up in one copy; the hits are
  // then added onto those zeros from the cache on the device (x + 0 == x).
  float* staging = out;
  if (device_.is_cuda()) {
    staging_.resize(static_cast<std::size_t>(n * dim_));
    staging = staging_.data();
  }
  hit_index_.resize(static_cast<std::size_t>(n));
  int64_t miss = 0;
  for (int64_t i = 0; i < n; ++i) {
    hit_index_[i] = slots[i];
    float* dst = staging + i * dim_;
    if (slots[i] >= 0) {
      std::fill(dst, dst + dim_, 0.0f);
    } else {
      std::memcpy(dst, miss_rows + miss * width_, static_cast<std::size_t>(dim_) * sizeof(float));
      ++miss;
    }
  }
  if (device_.is_cuda() && n > 0) {
    kernels::copy_to_device(device_, out, staging,
                            static_cast<std::size_t>(n * dim_) * sizeof(float));
  }
  const int64_t* index = upload(device_, hit_index_, &dev_index_);
  kernels::gather_rows(device_, rows_.data(), capacity_, dim_, index, n, out, /*accumulate=*/true);
}

void RowCache::update(const int64_t* keys, const int64_t* slots, int64_t n, const float* grads,
                      const float* grads_host, const float* miss_rows, int64_t looked_up_at,
                      std::vector<int64_t>* push_index) {
  const int64_t now = updates_++;
  push_index->clear();
  update_pos_.clear();
  update_slots_.clear();
  // (position, miss row) of the keys not cached, in position order.
  std::vector<std::pair<int64_t, int64_t>>& candidates = candidates_;
  candidates.clear();
  int64_t miss = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t slot = slots[i];
    if (slot < 0) {
      // Admitted by an earlier update() since lookup() (the batch after it
      // was prepared first, in async mode): its gradient belongs here now.
      const auto it = entries_.find(keys[i]);
      if (it != entries_.end()) slot = it->second.slot;
    }
    if (slot >= 0) {
      update_pos_.push_back(i);
      update_slots_.push_back(slot);
      if (write_through_) {
        push_index->push_back(i);
      } else {
        dirty_[slot] = 1;
      }
    } else {
      push_index->push_back(i);
      Entry& e = entries_[keys[i]];
      // Pulled before an earlier gradient of this key reached the server?
      if (e.pushed_at < looked_up_at) candidates.emplace_back(i, miss);
      e.pushed_at = now;
    }
    if (slots[i] < 0) ++miss;
  }
  apply_on_device(update_pos_, update_slots_, grads, n, grads_host);

  std::vector<float>& entry = entry_;
  entry.resize(static_cast<std::size_t>(width_));
  for (const auto& [i, m] : candidates) {
    const int64_t key = keys[i];
    Entry& e = entries_[key];
    int64_t slot = -1;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = victim();
      if (slot < 0 || e.seen <= slot_seen_[slot]) continue;
      evict(slot);
    }
    // The row as the server holds it once this step's push lands.
    std::memcpy(entry.data(), miss_rows + m * width_,
                static_cast<std::size_t>(width_) * sizeof(float));
    ps::apply_update(spec_, entry.data(), entry.data() + dim_, grads_host + i * dim_);
    store_slot(slot, entry.data());
    slot_key_[slot] = key;
    slot_seen_[slot] = e.seen;
    e.slot = slot;
    ++stats_.admitted;
  }
}

void RowCache::send_evicted() {
  if (evicted_keys_.empty()) return;
  backing_.push_delta(evicted_keys_.data(), static_cast<int64_t>(evicted_keys_.size()),
                      evicted_deltas_.data());
  evicted_keys_.clear();
  evicted_deltas_.clear();
}

int64_t RowCache::victim() {
  // Exact below kVictimSample rows: every slot is looked at.
  const int64_t looks = std::min(capacity_, kVictimSample);
  const int64_t start =
      capacity_ <= kVictimSample
          ? 0
          : static_cast<int64_t>(splitmix64(++victim_draws_) % static_cast<uint64_t>(capacity_));
  int64_t best = -1;
  for (int64_t j = 0; j < looks; ++j) {
    const int64_t s = (start + j) % capacity_;
    if (slot_key_[s] < 0 || held_[s] > 0) continue;
    // The least seen; ties to the lower key, so the choice is a function of the counts.
    if (best < 0 || slot_seen_[s] < slot_seen_[best] ||
        (slot_seen_[s] == slot_seen_[best] && slot_key_[s] < slot_key_[best])) {
      best = s;
    }
  }
  return best;
}

void RowCache::evict(int64_t slot) {
  const int64_t key = slot_key_[slot];
  if (dirty_[slot]) {
    evicted_keys_.push_back(key);
    evicted_deltas_.resize(evicted_deltas_.size() + static_cast<std::size_t>(width_));
    slot_delta(slot, evicted_deltas_.data() + evicted_deltas_.size() - width_);
    ++stats_.written_back;
  }
  entries_[key].slot = -1;
  slot_key_[slot] = -1;
  dirty_[slot] = 0;
  ++stats_.evicted;
}

void RowCache::slot_delta(int64_t slot, float* delta) {
  kernels::copy_to_host(device_, delta, rows_.data() + slot * dim_,
                        static_cast<std::size_t>(dim_) * sizeof(float));
  if (state_floats_ > 0) {
    kernels::copy_to_host(device_, delta + dim_, state_.data() + slot * state_floats_,
                          static_cast<std::size_t>(state_floats_) * sizeof(float));
  }
  const float* base = base_.data() + slot * width_;
  for (int64_t k = 0; k < width_; ++k) delta[k] -= base[k];
}

void RowCache::store_slot(int64_t slot, const float* row_with_state) {
  kernels::copy_to_device(device_, rows_.data() + slot * dim_, row_with_state,
                          static_cast<std::size_t>(dim_) * sizeof(float));
  if (state_floats_ > 0) {
    kernels::copy_to_device(device_, state_.data() + slot * state_floats_, row_with_state + dim_,
                            static_cast<std::size_t>(state_floats_) * sizeof(float));
  }
  std::memcpy(base_.data() + slot * width_, row_with_state,
              static_cast<std::size_t>(width_) * sizeof(float));
  dirty_[slot] = 0;
}

void RowCache::apply_on_device(const std::vector<int64_t>& positions,
                               const std::vector<int64_t>& slots, const float* grads,
                               int64_t n_rows, const float* grads_host) {
  const auto m = static_cast<int64_t>(positions.size());
  if (m == 0) return;
  if (spec_.optimizer == ps::Optimizer::kRowwiseAdagrad) {
    // The cached rows' gradients, compacted on the device, then the kernels'
    // update (on the CPU: rowwise_adagrad_row, the server's own function).
    const int64_t* pos = upload(device_, positions, &dev_index_);
    float* compact = grow(device_, m * dim_, &dev_rows_);
    kernels::gather_rows(device_, grads, n_rows, dim_, pos, m, compact, /*accumulate=*/false);
    kernels::RowwiseAdagradParams params;
    params.learning_rate = static_cast<float>(spec_.learning_rate);
    params.eps = static_cast<float>(spec_.eps);
    const int64_t* dev_slots = upload(device_, slots, &dev_slots_);
    kernels::rowwise_adagrad_update(device_, rows_.data(), state_.data(), capacity_, dim_,
                                    dev_slots, compact, m, params);
    return;
  }
  // Adam keeps a step count per row (the constructor limits this to the CPU).
  for (int64_t j = 0; j < m; ++j) {
    const int64_t s = slots[j];
    ps::apply_update(spec_, rows_.data() + s * dim_, state_.data() + s * state_floats_,
                     grads_host + positions[j] * dim_);
  }
}

void RowCache::write_back() {
  send_evicted();
  if (write_through_) return;
  std::vector<int64_t> keys;
  std::vector<float> deltas;
  for (int64_t s = 0; s < capacity_; ++s) {
    if (slot_key_[s] < 0 || !dirty_[s]) continue;
    keys.push_back(slot_key_[s]);
    deltas.resize(deltas.size() + static_cast<std::size_t>(width_));
    float* delta = deltas.data() + deltas.size() - width_;
    slot_delta(s, delta);
    // The server now holds base + delta: that is the new base.
    float* base = base_.data() + s * width_;
    for (int64_t k = 0; k < width_; ++k) base[k] += delta[k];
    dirty_[s] = 0;
  }
  stats_.written_back += static_cast<int64_t>(keys.size());
  if (!keys.empty())
    backing_.push_delta(keys.data(), static_cast<int64_t>(keys.size()), deltas.data());
}

void RowCache::refresh() {
  std::vector<int64_t> keys, slots;
  for (int64_t s = 0; s < capacity_; ++s) {
    if (slot_key_[s] < 0) continue;
    keys.push_back(slot_key_[s]);
    slots.push_back(s);
  }
  if (keys.empty()) return;
  std::vector<float> pulled(keys.size() * static_cast<std::size_t>(width_));
  backing_.pull_with_state(keys.data(), static_cast<int64_t>(keys.size()), pulled.data());
  // The whole cache goes up in one copy per array (a row at a time would
  // be two synchronised copies per row on CUDA); free slots hold nothing
  // anyone reads, so they go up as zeros.
  std::vector<float> rows(rows_.size(), 0.0f), state(state_.size(), 0.0f);
  for (std::size_t j = 0; j < keys.size(); ++j) {
    const float* src = pulled.data() + j * static_cast<std::size_t>(width_);
    const int64_t s = slots[j];
    std::memcpy(rows.data() + s * dim_, src, static_cast<std::size_t>(dim_) * sizeof(float));
    if (state_floats_ > 0) {
      std::memcpy(state.data() + s * state_floats_, src + dim_,
                  static_cast<std::size_t>(state_floats_) * sizeof(float));
    }
    std::memcpy(base_.data() + s * width_, src, static_cast<std::size_t>(width_) * sizeof(float));
    dirty_[s] = 0;
  }
  rows_.upload(rows);
  if (state_floats_ > 0) state_.upload(state);
}

}  // namespace hybrec::trainer
