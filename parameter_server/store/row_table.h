// One parameter-server table: int64 key -> [row | optimizer state].
//
// Concurrency: the keys are split over kStripes stripes by a hash of the key;
// each stripe owns its own open-addressing index, its own slot arena and its
// own mutex. A request visits its keys stripe by stripe (a stable counting
// sort by stripe), locking each stripe once, so requests on different
// stripes proceed in parallel and there is no global lock.
//
// Speed: a warm table is far larger than the caches, so each key costs a
// miss on its index bucket and misses on its slot. Within a stripe the
// bucket of the key kPrefetchDistance ahead and the slot of the key half as
// far ahead are prefetched, so those misses overlap instead of queueing.
// A row and its optimizer state live in one slot and are only read or written
// under their stripe's lock, so no reader ever sees a torn row/state pair.
//
// Memory: a slot is exactly dim + state_floats(spec) floats, allocated in
// chunks of kSlotsPerChunk from huge-page regions (huge_pages.h); the index
// costs 16 bytes per bucket at a load factor kept between 3/8 and 3/4, also
// on huge pages once a stripe's index reaches 2 MiB. bytes() reports both.
//
// Bounds (the spec's max_rows, admit_after, ttl_s): a request that would
// store rows past max_rows is refused whole (TOO_LARGE) before it touches
// anything. On a capped table, requests hold its growth lock shared while
// the rows stored plus their key counts fit under the cap (no counting);
// near the cap a request that would store new rows counts them with the
// lock held exclusively, so the cap holds exactly. Keys below admit_after (admission_filter.h) are
// served their initial rows and not stored. Each bucket records when its row was last written
// (seconds on the table's clock, in the bucket's padding), and evict_expired() removes rows older
// than ttl_s and reuses their slots.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <vector>

#include "parameter_server/wire/table_spec.h"

namespace hybrec::ps {

class SlotArena;
class AdmissionFilter;

class RowTable {
 public:
  static constexpr int kStripeBits = 7;
  static constexpr int kStripes = 1 << kStripeBits;
  static constexpr int kSlotsPerChunk = 1024;

  // spec must be valid (validate(spec) passed).
  explicit RowTable(TableSpec spec);
  ~RowTable();
  RowTable(const RowTable&) = delete;
  RowTable& operator=(const RowTable&) = delete;

  const TableSpec& spec() const { return spec_; }
  int64_t dim() const { return spec_.dim; }
  int64_t slot_floats() const { return slot_floats_; }

  // Copies the rows of keys[0..n) into rows [n, dim]. A key seen for the
  // first time gets its initial row (row_init.h); kTrain also stores it with
  // zero state, once admitted. Throws RequestError(kTooLarge) before
  // changing anything when storing would pass max_rows.
  void pull(const int64_t* keys, int64_t n, float* rows, PullMode mode = PullMode::kTrain);
  // The same into raw bytes [n, dim * 4] with no alignment requirement (a
  // reply frame).
  void pull_bytes(const int64_t* keys, int64_t n, uint8_t* rows, PullMode mode = PullMode::kTrain);

  // pull_bytes in kTrain mode, but each key's whole slot [slot_floats]: its
  // row followed by its optimizer state (state_floats(spec)), into
  // slots [n, slot_floats] as raw bytes. A key answered with its unstored
  // initial row (not admitted yet) gets zero state after it.
  void pull_with_state_bytes(const int64_t* keys, int64_t n, uint8_t* slots);

  // Applies grads [n, dim] to the rows of keys, one key at a time in order
  // (a key given twice is updated twice). The caller has checked that every
  // gradient is finite. A key not stored yet is stored from its initial row,
  // unless admission has not admitted it: then its gradient is dropped.
  // Returns how many keys were dropped so. Throws like pull.
  int64_t push(const int64_t* keys, int64_t n, const float* grads);

  // Adds deltas [n, slot_floats] (row then state, as pull_with_state_bytes
  // lays them out) to the slots of keys, one key at a time in order (a key
  // given twice gets both). Keys not stored yet, admission and the row cap
  // as push: a key is stored from its initial row and zero state before its
  // delta is added, unless admission has not admitted it (its delta is
  // dropped and counted in the result). The caller has checked that every
  // delta is finite. Throws like pull.
  int64_t add(const int64_t* keys, int64_t n, const float* deltas);

  // Overwrites the rows of keys with rows [n, dim] and resets their state.
  // Throws like pull.
  void assign(const int64_t* keys, int64_t n, const float* rows);

  // Seconds since the table was made: the clock of ttl_s.
  double now_s() const;
  // Removes every row last written before now_s - ttl_s (none when ttl_s is
  // 0); returns how many.
  int64_t evict_expired(double now_s);

  // Stores whole slots [n, slot_floats] (row then state) verbatim: restoring
  // a checkpoint.
  void restore(const int64_t* keys, int64_t n, const float* slots);

  // Whether key is stored; copies its slot to slot_out when it is (nullptr:
  // only test). Never inserts.
  bool find(int64_t key, float* slot_out) const;

  int64_t size() const;
  int64_t bytes() const;

  // Calls visit(keys, slots, count) once per non-empty stripe with a copy of
  // that stripe's keys and slots [count, slot_floats], taken under the
  // stripe's lock and handed over after releasing it: a consistent snapshot
  // of every row with its state while pushes to other stripes continue.
  using SnapshotVisitor =
      std::function<void(const int64_t* keys, const float* slots, int64_t count)>;
  void snapshot(const SnapshotVisitor& visit) const;

 private:
  struct Stripe;
  // What visit_slots does with a key that is not stored.
  enum class Missing {
    kStoreInitialised,  // store it with its initial row and zero state
    kStoreRaw,          // store it uninitialised; the visitor fills the slot
    kAdmit,             // kStoreInitialised once the admission filter admits it
    kSkip,              // leave it out: the visitor gets a null slot
  };
  // The request's own per-key data: [n, width] floats at data (null: none).
  struct RequestRows {
    const void* data = nullptr;
    int64_t width = 0;
  };
  // Calls visit(i, slot) for every keys[i], stripe by stripe and in request
  // order within a stripe (so repeats of a key are visited in order); slot
  // is null for a key left unstored. touch: stamp the rows visited as
  // written now (ttl_s). The request's rows are prefetched along with the
  // slots (they are just as scattered in stripe order).
  template <typename Visit>
  void visit_slots(const int64_t* keys, int64_t n, Missing missing, bool touch, RequestRows request,
                   Visit&& visit);
  // visit_slots under the growth lock, refusing (TOO_LARGE) a request that
  // would store rows past max_rows.
  template <typename Visit>
  void visit_bounded(const char* what, const int64_t* keys, int64_t n, Missing missing, bool touch,
                     RequestRows request, Visit&& visit);
  // The first `width` floats of each key's slot (dim: the row; slot_floats:
  // row and state) into out [n, width] as raw bytes; an unstored key gets
  // its initial row and zero state.
  void copy_out(const int64_t* keys, int64_t n, uint8_t* out, Missing missing, int64_t width);
  // What a push (or add) does with a key not stored: only training pulls
  // count towards admission, so on a table with admit_after a push never
  // stores a row; otherwise it stores it initialised.
  Missing missing_on_push() const {
    return admission_ ? Missing::kSkip : Missing::kStoreInitialised;
  }
  // Distinct keys of the request that visit_slots would store.
  int64_t count_new(const int64_t* keys, int64_t n, Missing missing) const;
  uint32_t clock_tick() const;

  TableSpec spec_;
  int64_t slot_floats_;
  uint64_t name_hash_;
  std::unique_ptr<SlotArena> arena_;  // before stripes_: their chunks point into it
  std::unique_ptr<Stripe[]> stripes_;
  std::unique_ptr<AdmissionFilter> admission_;  // null unless admit_after >= 2
  mutable std::shared_mutex growth_mutex_;
  std::atomic<int64_t> stored_{0};    // rows stored, over all stripes
  std::atomic<int64_t> reserved_{0};  // keys of capped requests under the shared lock
  const std::chrono::steady_clock::time_point born_;
};

}  // namespace hybrec::ps
