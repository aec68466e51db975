// A trainer rank's cache of hot id-embedding rows (train.cache_rows), one per
// table, on the model's device: the row AND its optimizer state, updated here
// with the parameter server's own math (ps::apply_update; on the device the
// kernels' rowwise_adagrad_update, which on the CPU is the same function), so
// a cached row needs no pull and, in write-back mode, no push per step.
//
// Admission and eviction: LFU. Every key a batch touches is counted (since
// the start of the run, no decay). A missed key is admitted when a slot is
// free, or when it has been seen more often than the least seen of
// kVictimSample cached keys that no batch in flight holds (ties keep the
// resident): exact LFU while the cache has at most kVictimSample rows,
// sampled LFU (as Redis approximates it) above, so that a step costs one
// hash lookup per key and no ordered index. The sample walks the slots from
// a counter-based position, so runs are reproducible. LFU rather than LRU
// because recommendation traffic is a stable popularity head over a long
// tail that every batch samples a little of: under LRU each batch's tail
// keys would push head rows out; under LFU the head stays and a tail key
// must earn its slot.
//
// Staleness (train.cache_sync_steps = S):
//   S = 0, write-through. Every row gradient still goes to the server, and
//     the cached copy takes the same update. On one trainer rank on the CPU
//     the cached row equals the server's bit for bit; in sync mode training
//     is then exactly that of a run without the cache (the cache saves the
//     pulls), and in async mode a cached row is fresher than a pull (it has
//     the previous step's update, which an overlapped pull can miss). On
//     CUDA the device's Adagrad sums the squares in another order (within
//     the kernels' rtol 1e-4), so the trainer re-reads the cached rows every
//     kCudaRefreshSteps steps. With several trainer ranks a cached copy
//     would miss the other ranks' updates: the config refuses S = 0 there.
//   S > 0, write-back. A cached row's gradients are applied here only. Every
//     S steps, at every validation and checkpoint, and when a changed row is
//     evicted, the cache sends what each changed row and its state moved
//     since it was last read (push_delta: the server adds it), then re-reads
//     every cached row, picking up the other ranks' changes. So the server's
//     copy lags this rank's by at most S steps, a cached copy lags the other
//     ranks' updates by at most S steps, and ranks that train one hot row all
//     keep their updates (they add, none overwrites another's).
//
// Sequence per step: lookup() when the batch is prepared (its hits are held
// until release(), so an eviction in between cannot take their slots), the
// misses pulled with their state by the caller, assemble() into the model's
// row buffer, update() with the row gradients after the backward, release(),
// and send_evicted() when the step's pushes go out.
//
// A miss enters only with a row that is current: lookup() returns the
// number of update() calls so far, and a key whose gradient went to the
// server in an update() at or after that point (its push may have landed
// after this batch's pull: async mode) is not admitted from that pull.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hybrec/kernels/device.h"
#include "parameter_server/wire/table_spec.h"

namespace hybrec::trainer {

// The server's table as the cache reads and writes it (blocking calls).
struct RowCacheBacking {
  // rows_with_state [n, dim + state floats]: each row then its optimizer state.
  std::function<void(const int64_t* keys, int64_t n, float* rows_with_state)> pull_with_state;
  // deltas [n, dim + state floats], added to each row and its state.
  std::function<void(const int64_t* keys, int64_t n, const float* deltas)> push_delta;
};

struct RowCacheStats {
  int64_t lookups = 0, hits = 0, admitted = 0, evicted = 0, written_back = 0;
  double hit_rate() const { return lookups > 0 ? static_cast<double>(hits) / lookups : 0.0; }
};

class RowCache {
 public:
  // capacity rows of spec's table (dim, optimizer) on `device`. Throws when
  // the optimizer is Adam on CUDA (the device update takes one step count
  // for all rows, the server counts per row).
  RowCache(const ps::TableSpec& spec, int64_t capacity, bool write_through,
           const kernels::Device& device, RowCacheBacking backing);

  int64_t capacity() const { return capacity_; }
  int64_t dim() const { return dim_; }
  int64_t width() const { return width_; }  // dim + optimizer state floats
  static constexpr int64_t kVictimSample = 16;

  int64_t size() const { return static_cast<int64_t>(slot_key_.size()) - free_slots_count(); }
  bool write_through() const { return write_through_; }
  const RowCacheStats& stats() const { return stats_; }
  bool contains(int64_t key) const {
    const auto it = entries_.find(key);
    return it != entries_.end() && it->second.slot >= 0;
  }

  static constexpr int64_t kCudaRefreshSteps = 50;

  // keys[0..n) distinct. slots[i] = the cache slot of keys[i], or -1 (a miss
  // the caller pulls with its state). Counts every key; holds every hit
  // until release(). Returns the lookup's place: update() calls so far (pass
  // it to update()).
  int64_t lookup(const int64_t* keys, int64_t n, int64_t* slots);
  // out [n, dim] on the device: row i from the cache where slots[i] >= 0,
  // else the next row of miss_rows (host [misses, width]: the misses' rows
  // with their state, in position order, as pulled).
  void assemble(const int64_t* slots, int64_t n, const float* miss_rows, float* out);
  // After the backward, grads [n, dim] of the same keys (grads on the
  // device, grads_host the same values in host memory; the same pointer on
  // the CPU). Every key cached now takes its gradient here (a miss admitted
  // by an earlier update() since lookup() too); the misses compete for
  // admission, entering with their pulled row and state updated by this
  // gradient, i.e. as the server holds them once the push lands (miss_rows
  // as for assemble()). Writes to
  // push_index the positions whose gradient the server must receive: all of
  // them in write-through mode, else the keys that were not cached.
  void update(const int64_t* keys, const int64_t* slots, int64_t n, const float* grads,
              const float* grads_host, const float* miss_rows, int64_t looked_up_at,
              std::vector<int64_t>* push_index);
  // Ends the hold lookup() took on these slots.
  void release(const int64_t* slots, int64_t n);

  // Sends what the evicted changed rows moved (push_delta), queued by
  // update(); in sync mode the caller does it in its rank's turn, so every
  // server adds the deltas in the same order in every run.
  void send_evicted();
  // Write-back mode: sends the changed rows' deltas, the evicted ones first
  // (nothing in write-through mode). Call on every rank (in rank order in
  // sync mode), then barrier, then refresh().
  void write_back();
  // Re-reads every cached row and its state from the server.
  void refresh();
  // Forgets every row (after the server's tables were reloaded).
  void clear();

 private:
  int64_t free_slots_count() const { return static_cast<int64_t>(free_.size()); }
  // The slot of the least seen of up to kVictimSample unheld cached keys, or -1.
  int64_t victim();
  void evict(int64_t slot);
  // deltas [width] = cached - base of slot (downloads the slot).
  void slot_delta(int64_t slot, float* delta);
  void store_slot(int64_t slot, const float* row_with_state);
  void apply_on_device(const std::vector<int64_t>& positions, const std::vector<int64_t>& slots,
                       const float* grads, int64_t n_rows, const float* grads_host);

  ps::TableSpec spec_;
  int64_t capacity_, dim_, state_floats_, width_;
  bool write_through_;
  kernels::Device device_;
  RowCacheBacking backing_;

  kernels::Buffer<float> rows_, state_;  // [capacity, dim], [capacity, state floats]
  std::vector<float> base_;              // [capacity, width] host: the row as last read
  std::vector<int64_t> slot_key_;        // [capacity], -1 = free
  std::vector<uint8_t> dirty_;           // [capacity]
  std::vector<int32_t> held_;            // [capacity]
  std::vector<int64_t> slot_seen_;       // [capacity] the cached key's count
  std::vector<int64_t> free_;
  // Every key counted: times seen by lookup(), and its slot (-1 = not cached).
  struct Entry {
    int64_t seen = 0;
    int64_t slot = -1;
    int64_t pushed_at = -1;  // the last update() that sent its gradient to the server
  };
  std::unordered_map<int64_t, Entry> entries_;
  uint64_t victim_draws_ = 0;
  int64_t updates_ = 0;                // update() calls so far
  std::vector<int64_t> evicted_keys_;  // queued for send_evicted()
  std::vector<float> evicted_deltas_;
  RowCacheStats stats_;

  // Scratch reused every step.
  std::vector<int64_t> hit_index_, update_slots_, update_pos_;
  std::vector<float> staging_, entry_;
  std::vector<std::pair<int64_t, int64_t>> candidates_;  // update(): (position, miss row)
  kernels::Buffer<int64_t> dev_index_, dev_slots_;
  kernels::Buffer<float> dev_rows_;
};

}  // namespace hybrec::trainer
