#include "parameter_server/store/row_table.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "parameter_server/store/admission_filter.h"
#include "parameter_server/wire/errors.h"
#include "parameter_server/wire/huge_pages.h"
#include "parameter_server/wire/row_init.h"
#include "parameter_server/wire/row_update.h"

namespace hybrec::ps {

namespace {

constexpr uint32_t kEmpty = 0;  // slot_plus_one of an empty bucket
constexpr int kChunkShift = 10;
static_assert((1 << kChunkShift) == RowTable::kSlotsPerChunk);

struct Bucket {
  int64_t key;
  uint32_t slot_plus_one;
  uint32_t written;  // clock_tick() of the row's last write (the padding's 4 bytes)
};

}  // namespace

struct RowTable::Stripe {
  mutable std::mutex mutex;
  std::vector<Bucket, HugePageAllocator<Bucket>> buckets;  // power-of-two size, linear probing
  int64_t count = 0;                                       // rows stored
  uint32_t next_slot = 0;                                  // slots ever handed out
  std::vector<uint32_t> free_slots;                        // of evicted rows, reused first
  std::vector<float*> chunks;                              // owned by the table's arena

  float* slot(uint32_t s, int64_t slot_floats) const {
    return chunks[s >> kChunkShift] + static_cast<int64_t>(s & (kSlotsPerChunk - 1)) * slot_floats;
  }

  // Bucket holding key, or the empty bucket where it would go.
  Bucket& probe(int64_t key, uint64_t hash) {
    const uint64_t mask = buckets.size() - 1;
    for (uint64_t b = hash & mask;; b = (b + 1) & mask) {
      Bucket& bucket = buckets[b];
      if (bucket.slot_plus_one == kEmpty || bucket.key == key) return bucket;
    }
  }
  const Bucket* lookup(int64_t key, uint64_t hash) const {
    if (buckets.empty()) return nullptr;
    const Bucket& b = const_cast<Stripe*>(this)->probe(key, hash);
    return b.slot_plus_one == kEmpty ? nullptr : &b;
  }

  void grow() {
    std::vector<Bucket, HugePageAllocator<Bucket>> old;
    old.swap(buckets);
    buckets.assign(old.empty() ? 16 : old.size() * 2, Bucket{0, kEmpty, 0});
    for (const Bucket& b : old) {
      if (b.slot_plus_one != kEmpty) probe(b.key, mix13(static_cast<uint64_t>(b.key))) = b;
    }
  }

  // A new slot (uninitialised) for key; the caller fills it.
  uint32_t insert(int64_t key, uint64_t hash, uint32_t now, SlotArena& arena) {
    if (4 * (count + 1) > 3 * static_cast<int64_t>(buckets.size())) grow();
    uint32_t s;
    if (!free_slots.empty()) {
      s = free_slots.back();
      free_slots.pop_back();
    } else {
      if (next_slot == UINT32_MAX - 1) {
        HYBREC_PS_REJECT(ErrorCode::kTooLarge, "row table stripe is full (", count, " rows)");
      }
      s = next_slot++;
      if ((s >> kChunkShift) >= chunks.size()) chunks.push_back(arena.allocate_chunk());
    }
    probe(key, hash) = Bucket{key, s + 1, now};
    ++count;
    return s;
  }

  // Removes key's bucket (it must be stored) by backward-shift deletion, so
  // every other key stays reachable from its home bucket with no tombstones.
  void erase(int64_t key, uint64_t hash) {
    const uint64_t mask = buckets.size() - 1;
    uint64_t hole = static_cast<uint64_t>(&probe(key, hash) - buckets.data());
    free_slots.push_back(buckets[hole].slot_plus_one - 1);
    --count;
    for (uint64_t next = (hole + 1) & mask; buckets[next].slot_plus_one != kEmpty;
         next = (next + 1) & mask) {
      const uint64_t home = mix13(static_cast<uint64_t>(buckets[next].key)) & mask;
      // The entry at next may fill the hole unless its home lies cyclically
      // in (hole, next]: moving it before its home would lose it.
      const bool home_after_hole =
          hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
      if (home_after_hole) continue;
      buckets[hole] = buckets[next];
      hole = next;
    }
    buckets[hole] = Bucket{0, kEmpty, 0};
  }
};

namespace {
// The stripe takes the top bits of the hash, the bucket the low bits, so the
// two choices are independent.
inline int stripe_of(uint64_t hash) {
  return static_cast<int>(hash >> (64 - RowTable::kStripeBits));
}
}  // namespace

RowTable::RowTable(TableSpec spec)
    : spec_(std::move(spec)),
      slot_floats_(spec_.dim + state_floats(spec_)),
      name_hash_(table_name_hash(spec_.name)),
      arena_(std::make_unique<SlotArena>(kSlotsPerChunk * slot_floats_ * sizeof(float))),
      stripes_(new Stripe[kStripes]),
      admission_(spec_.admit_after >= 2 ? std::make_unique<AdmissionFilter>(spec_.admit_after)
                                        : nullptr),
      born_(std::chrono::steady_clock::now()) {}

RowTable::~RowTable() = default;

double RowTable::now_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - born_).count();
}

uint32_t RowTable::clock_tick() const { return static_cast<uint32_t>(now_s()); }

namespace {

constexpr int64_t kPrefetchDistance = 16;

inline void prefetch_bytes(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t offset = 0; offset < bytes; offset += 64) __builtin_prefetch(c + offset);
}

}  // namespace

template <typename Visit>
void RowTable::visit_slots(const int64_t* keys, int64_t n, Missing missing, bool touch,
                           RequestRows request, Visit&& visit) {
  if (n == 0) return;
  // Stable counting sort of the request by stripe.
  std::vector<uint64_t> hashes(static_cast<size_t>(n));
  std::vector<int64_t> begin(kStripes + 1, 0);
  for (int64_t i = 0; i < n; ++i) {
    hashes[i] = mix13(static_cast<uint64_t>(keys[i]));
    ++begin[stripe_of(hashes[i]) + 1];
  }
  for (int s = 0; s < kStripes; ++s) begin[s + 1] += begin[s];
  std::vector<int64_t> order(static_cast<size_t>(n));
  {
    std::vector<int64_t> next(begin.begin(), begin.end() - 1);
    for (int64_t i = 0; i < n; ++i) order[next[stripe_of(hashes[i])]++] = i;
  }
  const int64_t dim = spec_.dim;
  const int64_t slot_bytes = slot_floats_ * static_cast<int64_t>(sizeof(float));
  const int64_t request_bytes = request.width * static_cast<int64_t>(sizeof(float));
  const float scale = static_cast<float>(spec_.init_scale);
  const uint32_t now = clock_tick();
  for (int s = 0; s < kStripes; ++s) {
    const int64_t first = begin[s], last = begin[s + 1];
    if (first == last) continue;
    Stripe& stripe = stripes_[s];
    std::lock_guard<std::mutex> lock(stripe.mutex);
    for (int64_t j = first; j < last; ++j) {
      if (!stripe.buckets.empty()) {
        const uint64_t mask = stripe.buckets.size() - 1;
        if (j + kPrefetchDistance < last) {
          __builtin_prefetch(&stripe.buckets[hashes[order[j + kPrefetchDistance]] & mask]);
        }
        if (j + kPrefetchDistance / 2 < last) {
          const int64_t ahead = order[j + kPrefetchDistance / 2];
          if (const Bucket* b = stripe.lookup(keys[ahead], hashes[ahead])) {
            prefetch_bytes(stripe.slot(b->slot_plus_one - 1, slot_floats_), slot_bytes);
          }
          // The request's own row of that key is just as scattered in
          // stripe order.
          if (request.data != nullptr) {
            prefetch_bytes(static_cast<const char*>(request.data) + ahead * request_bytes,
                           request_bytes);
          }
        }
      }
      const int64_t i = order[j];
      float* slot = nullptr;
      if (Bucket* b = const_cast<Bucket*>(stripe.lookup(keys[i], hashes[i]))) {
        if (touch) b->written = now;
        slot = stripe.slot(b->slot_plus_one - 1, slot_floats_);
      } else if (missing == Missing::kStoreRaw || missing == Missing::kStoreInitialised ||
                 (missing == Missing::kAdmit && admission_->count_and_admit(keys[i]))) {
        slot = stripe.slot(stripe.insert(keys[i], hashes[i], now, *arena_), slot_floats_);
        stored_.fetch_add(1, std::memory_order_relaxed);
        if (missing != Missing::kStoreRaw) {
          init_row(static_cast<uint64_t>(spec_.seed), name_hash_, keys[i], scale, dim, slot);
          reset_state(spec_, slot + dim);
        }
      }
      visit(i, slot);
    }
  }
}

int64_t RowTable::count_new(const int64_t* keys, int64_t n, Missing missing) const {
  // Missing keys with how often the request names each: a key repeated in
  // one request is counted by the admission filter once per repeat.
  std::unordered_map<int64_t, int64_t> missing_keys;
  for (int64_t i = 0; i < n; ++i) {
    if (!find(keys[i], nullptr)) ++missing_keys[keys[i]];
  }
  int64_t fresh = 0;
  for (const auto& [key, repeats] : missing_keys) {
    fresh += missing != Missing::kAdmit || admission_->would_admit(key, repeats);
  }
  return fresh;
}

template <typename Visit>
void RowTable::visit_bounded(const char* what, const int64_t* keys, int64_t n, Missing missing,
                             bool touch, RequestRows request, Visit&& visit) {
  if (spec_.max_rows == 0 || missing == Missing::kSkip) {
    visit_slots(keys, n, missing, touch, request, visit);
    return;
  }
  {
    // Holding the lock shared keeps the exclusive (counting) path out
    // until this request is done.
    std::shared_lock<std::shared_mutex> shared(growth_mutex_);
    // Far from the cap: a request stores at most n rows, so while the rows
    // stored plus the n of every request now under the shared lock fit,
    // none of them needs its new keys counted (each reservation is seen by
    // whichever request checks later).
    struct Reservation {
      std::atomic<int64_t>& reserved;
      int64_t n;
      ~Reservation() { reserved.fetch_sub(n); }
    } reservation{reserved_, n};
    if (size() + reserved_.fetch_add(n) + n <= spec_.max_rows) {
      visit_slots(keys, n, missing, touch, request, visit);
      return;
    }
    // Near it: a request whose keys are all stored already stores nothing.
    if (count_new(keys, n, missing) == 0) {
      visit_slots(keys, n, missing, touch, request, visit);
      return;
    }
  }
  std::unique_lock<std::shared_mutex> exclusive(growth_mutex_);
  const int64_t fresh = count_new(keys, n, missing);
  const int64_t stored = size();
  if (stored + fresh > spec_.max_rows) {
    HYBREC_PS_REJECT(ErrorCode::kTooLarge, what, " would store ", fresh, " new rows in table '",
                     spec_.name, "', which holds ", stored, " of its max_rows ", spec_.max_rows,
                     " on this shard; nothing was stored");
  }
  visit_slots(keys, n, missing, touch, request, visit);
}

void RowTable::pull(const int64_t* keys, int64_t n, float* rows, PullMode mode) {
  pull_bytes(keys, n, reinterpret_cast<uint8_t*>(rows), mode);
}

void RowTable::pull_bytes(const int64_t* keys, int64_t n, uint8_t* rows, PullMode mode) {
  const Missing missing = mode == PullMode::kReadOnly ? Missing::kSkip
                          : admission_                ? Missing::kAdmit
                                                      : Missing::kStoreInitialised;
  copy_out(keys, n, rows, missing, spec_.dim);
}

void RowTable::pull_with_state_bytes(const int64_t* keys, int64_t n, uint8_t* slots) {
  copy_out(keys, n, slots, admission_ ? Missing::kAdmit : Missing::kStoreInitialised, slot_floats_);
}

void RowTable::copy_out(const int64_t* keys, int64_t n, uint8_t* out, Missing missing,
                        int64_t width) {
  const int64_t dim = spec_.dim;
  const int64_t out_bytes = width * static_cast<int64_t>(sizeof(float));
  const float scale = static_cast<float>(spec_.init_scale);
  std::vector<float> initial;
  visit_bounded("pull", keys, n, missing, false, {out, width}, [&](int64_t i, const float* slot) {
    if (slot != nullptr) {
      std::memcpy(out + i * out_bytes, slot, out_bytes);
    } else {  // not stored: its initial row, built aside (out may be unaligned)
      initial.resize(static_cast<size_t>(width));
      init_row(static_cast<uint64_t>(spec_.seed), name_hash_, keys[i], scale, dim, initial.data());
      if (width > dim) reset_state(spec_, initial.data() + dim);
      std::memcpy(out + i * out_bytes, initial.data(), out_bytes);
    }
  });
}

int64_t RowTable::push(const int64_t* keys, int64_t n, const float* grads) {
  const int64_t dim = spec_.dim;
  int64_t dropped = 0;
  visit_bounded("push", keys, n, missing_on_push(), true, {grads, dim},
                [&](int64_t i, float* slot) {
                  if (slot == nullptr) {
                    ++dropped;  // not admitted: there is no row to update
                    return;
                  }
                  apply_update(spec_, slot, slot + dim, grads + i * dim);
                });
  return dropped;
}

int64_t RowTable::add(const int64_t* keys, int64_t n, const float* deltas) {
  const int64_t width = slot_floats_;
  int64_t dropped = 0;
  visit_bounded("push_delta", keys, n, missing_on_push(), true, {deltas, width},
                [&](int64_t i, float* slot) {
                  if (slot == nullptr) {
                    ++dropped;  // not admitted, as push drops its gradient
                    return;
                  }
                  const float* delta = deltas + i * width;
                  for (int64_t j = 0; j < width; ++j) slot[j] += delta[j];
                });
  return dropped;
}

void RowTable::assign(const int64_t* keys, int64_t n, const float* rows) {
  const int64_t dim = spec_.dim;
  visit_bounded("assign", keys, n, Missing::kStoreRaw, true, {rows, dim},
                [&](int64_t i, float* slot) {
                  std::memcpy(slot, rows + i * dim, sizeof(float) * dim);
                  reset_state(spec_, slot + dim);
                });
}

void RowTable::restore(const int64_t* keys, int64_t n, const float* slots) {
  visit_slots(keys, n, Missing::kStoreRaw, true, {}, [&](int64_t i, float* slot) {
    std::memcpy(slot, slots + i * slot_floats_, sizeof(float) * slot_floats_);
  });
}

int64_t RowTable::evict_expired(double now_s) {
  if (spec_.ttl_s <= 0 || now_s < spec_.ttl_s) return 0;
  const auto oldest_kept = static_cast<uint32_t>(now_s - spec_.ttl_s);
  int64_t evicted = 0;
  std::vector<int64_t> expired;
  for (int s = 0; s < kStripes; ++s) {
    Stripe& stripe = stripes_[s];
    std::lock_guard<std::mutex> lock(stripe.mutex);
    expired.clear();
    for (const Bucket& b : stripe.buckets) {
      if (b.slot_plus_one != kEmpty && b.written < oldest_kept) expired.push_back(b.key);
    }
    for (int64_t key : expired) stripe.erase(key, mix13(static_cast<uint64_t>(key)));
    evicted += static_cast<int64_t>(expired.size());
    stored_.fetch_sub(static_cast<int64_t>(expired.size()), std::memory_order_relaxed);
  }
  return evicted;
}

bool RowTable::find(int64_t key, float* slot_out) const {
  const uint64_t hash = mix13(static_cast<uint64_t>(key));
  const Stripe& stripe = stripes_[stripe_of(hash)];
  std::lock_guard<std::mutex> lock(stripe.mutex);
  const Bucket* b = stripe.lookup(key, hash);
  if (b == nullptr) return false;
  if (slot_out != nullptr) {
    std::memcpy(slot_out, stripe.slot(b->slot_plus_one - 1, slot_floats_),
                sizeof(float) * slot_floats_);
  }
  return true;
}

int64_t RowTable::size() const { return stored_.load(std::memory_order_relaxed); }

int64_t RowTable::bytes() const {
  int64_t total = static_cast<int64_t>(sizeof(RowTable) + kStripes * sizeof(Stripe));
  for (int s = 0; s < kStripes; ++s) {
    const Stripe& stripe = stripes_[s];
    std::lock_guard<std::mutex> lock(stripe.mutex);
    total += static_cast<int64_t>(stripe.buckets.capacity() * sizeof(Bucket) +
                                  stripe.chunks.capacity() * sizeof(float*));
  }
  return total + static_cast<int64_t>(arena_->used_bytes());
}

void RowTable::snapshot(const SnapshotVisitor& visit) const {
  std::vector<int64_t> keys;
  std::vector<float> slots;
  for (int s = 0; s < kStripes; ++s) {
    const Stripe& stripe = stripes_[s];
    {
      std::lock_guard<std::mutex> lock(stripe.mutex);
      keys.resize(static_cast<size_t>(stripe.count));
      slots.resize(static_cast<size_t>(stripe.count * slot_floats_));
      int64_t i = 0;
      for (const Bucket& b : stripe.buckets) {
        if (b.slot_plus_one == kEmpty) continue;
        keys[i] = b.key;
        std::memcpy(slots.data() + i * slot_floats_, stripe.slot(b.slot_plus_one - 1, slot_floats_),
                    sizeof(float) * slot_floats_);
        ++i;
      }
    }
    if (!keys.empty()) visit(keys.data(), slots.data(), static_cast<int64_t>(keys.size()));
  }
}

}  // namespace hybrec::ps
