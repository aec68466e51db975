#include "parameter_server/server/service.h"

#include <cmath>
#include <cstring>
#include <iostream>
#include <new>
#include <random>
#include <vector>

#include "parameter_server/store/snapshot_dirs.h"
#include "parameter_server/wire/payload.h"
#include "parameter_server/wire/row_init.h"
#include "parameter_server/wire/wire_convert.h"
#include "ps_constants.h"

namespace hybrec::ps {

namespace {

// Keys of a request, checked for framing and size.
int64_t key_count(const std::string& keys, int64_t max_keys) {
  if (keys.size() % sizeof(int64_t) != 0) {
    HYBREC_PS_REJECT(ErrorCode::kLengthMismatch, "keys are ", keys.size(),
                     " bytes, not a multiple of 8 (little-endian int64 each)");
  }
  const int64_t n = static_cast<int64_t>(keys.size() / sizeof(int64_t));
  if (n > max_keys) {
    HYBREC_PS_REJECT(ErrorCode::kTooLarge, n, " keys in one request; this server accepts at most ",
                     max_keys);
  }
  return n;
}

void check_row_bytes(const char* what, const std::string& values, int64_t n, const RowTable& t) {
  const uint64_t expected = static_cast<uint64_t>(n) * static_cast<uint64_t>(t.dim()) * 4;
  if (values.size() != expected) {
    HYBREC_PS_REJECT(ErrorCode::kDimMismatch, what, " are ", values.size(), " bytes; ", n,
                     " keys x dim ", t.dim(), " of table '", t.spec().name,
                     "' x 4 bytes = ", expected);
  }
}

// The same for whole slots (row then optimizer state), naming the width the
// request has when its size allows one: a client that left the state out
// sees "4 floats per key" against the table's 5.
void check_slot_bytes(const char* what, const std::string& values, int64_t n, const RowTable& t) {
  const uint64_t width = static_cast<uint64_t>(t.slot_floats());
  const uint64_t expected = static_cast<uint64_t>(n) * width * 4;
  if (values.size() == expected) return;
  std::string theirs;
  if (n > 0 && values.size() % (static_cast<uint64_t>(n) * 4) == 0) {
    theirs = " (the request has " + std::to_string(values.size() / (n * 4)) + " floats per key)";
  }
  HYBREC_PS_REJECT(ErrorCode::kDimMismatch, what, " are ", values.size(), " bytes", theirs, "; ", n,
                   " keys x width ", width, " (dim ", t.dim(), " + ", width - t.dim(),
                   " optimizer state floats) of table '", t.spec().name,
                   "' x 4 bytes = ", expected);
}

// Rejects the whole request when any value is NaN or infinite, naming the first.
void check_finite(const char* what, const float* values, int64_t n, int64_t dim,
                  const int64_t* keys) {
  const int64_t total = n * dim;
  // An all-ones exponent is exactly NaN or infinity; testing the bits keeps
  // the loop branch-free and vectorised (std::isfinite is not, at -O2).
  uint32_t non_finite = 0;
  for (int64_t i = 0; i < total; ++i) {
    uint32_t bits;
    std::memcpy(&bits, values + i, sizeof(bits));
    non_finite |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  if (non_finite == 0) return;
  for (int64_t i = 0; i < total; ++i) {
    if (!std::isfinite(values[i])) {
      HYBREC_PS_REJECT(ErrorCode::kNonFinite, what, " of key ", keys[i / dim], " (position ",
                       i / dim, ") hold ", values[i], " at element ", i % dim,
                       "; the request was rejected whole and changed nothing");
    }
  }
}

// A positive id no earlier start of this shard had: random bits from the
// OS, mixed with the clock in case the random device is weak.
int64_t new_incarnation() {
  std::random_device device;
  const uint64_t bits =
      (static_cast<uint64_t>(device()) << 32) ^ device() ^
      static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  const int64_t id = static_cast<int64_t>(mix13(bits) >> 1);
  return id == 0 ? 1 : id;
}

wire::Ack ack_of(int64_t incarnation) {
  wire::Ack ack;
  ack.__set_incarnation(incarnation);
  return ack;
}

}  // namespace

PsService::PsService(ServiceOptions options)
    : options_(std::move(options)),
      incarnation_(new_incarnation()),
      slicer_(make_default_slicer(options_.shard.count)),
      store_(std::make_shared<RowStore>()),
      started_(std::chrono::steady_clock::now()) {
  HYBREC_CHECK(options_.shard.index >= 0 && options_.shard.index < options_.shard.count,
               "shard index ", options_.shard.index, " out of range [0, ", options_.shard.count,
               ")");
}

PsService::~PsService() {
  {
    std::lock_guard<std::mutex> lock(sweeper_mutex_);
    sweeper_stopping_ = true;
  }
  sweeper_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

wire::PsError PsService::missing_field(const char* method, const char* field) {
  ++rejected_requests_;
  return to_wire(RequestError(ErrorCode::kBadRequest,
                              std::string(method) + ": the request lacks the required field '" +
                                  field + "'; nothing was changed",
                              __FILE__, __LINE__));
}

void PsService::check_owned(const char* what, const std::string& table, const int64_t* keys,
                            int64_t n) const {
  if (options_.shard.count == 1) return;
  for (int64_t i = 0; i < n; ++i) {
    const int owner = slicer_->shard_of(keys[i]);
    if (owner != options_.shard.index) {
      HYBREC_PS_REJECT(ErrorCode::kWrongShard, what, " of table '", table, "': key ", keys[i],
                       " (position ", i, ") belongs to shard ", owner, " of ", options_.shard.count,
                       " under routing '", kJumpRouting, "', not to this shard ",
                       options_.shard.index, "; the request was rejected whole and stored nothing");
    }
  }
}

// Turns every failure into a PsError so the connection and the server stay
// up: RequestError keeps its code; anything else is INTERNAL.
template <typename Fn>
auto PsService::guarded(const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const RequestError& e) {
    ++rejected_requests_;
    throw to_wire(e);
  } catch (const std::bad_alloc&) {
    ++rejected_requests_;
    throw to_wire(RequestError(ErrorCode::kInternal,
                               std::string(what) + ": out of memory on this shard", __FILE__,
                               __LINE__));
  } catch (const std::exception& e) {
    ++rejected_requests_;
    throw to_wire(RequestError(ErrorCode::kInternal, std::string(what) + ": " + e.what(), __FILE__,
                               __LINE__));
  }
}

std::shared_ptr<RowStore> PsService::current_store() const {
  std::shared_lock<std::shared_mutex> lock(store_mutex_);
  return store_;
}

void PsService::create_table(wire::Ack& ack, const wire::TableSpec& spec) {
  guarded("create_table", [&] {
    const TableSpec wanted = from_wire(spec);
    validate(wanted);
    if (wanted.num_shards != options_.shard.count) {
      HYBREC_PS_REJECT(ErrorCode::kBadSpec, "table '", wanted.name, "' is spread over ",
                       wanted.num_shards, " shards, but this is shard ", options_.shard.index,
                       " of ", options_.shard.count);
    }
    {
      std::shared_lock<std::shared_mutex> lock(store_mutex_);
      store_->create_table(wanted);
    }
    if (wanted.ttl_s > 0) start_sweeper();
  });
  ack = ack_of(incarnation_);
}

void PsService::pull(wire::PullReply& reply, const std::string& table, const std::string& keys,
                     wire::PullMode::type mode) {
  pull_into(table, keys, mode, [&](uint32_t bytes) {
    reply.rows.resize(bytes);
    return reinterpret_cast<uint8_t*>(reply.rows.data());
  });
  reply.__isset.rows = true;
  reply.__set_incarnation(incarnation_);
}

void PsService::pull_into(const std::string& table, const std::string& keys,
                          wire::PullMode::type mode,
                          const std::function<uint8_t*(uint32_t bytes)>& reserve) {
  guarded("pull", [&] {
    if (mode != wire::PullMode::TRAIN && mode != wire::PullMode::READ_ONLY &&
        mode != wire::PullMode::WITH_STATE) {
      HYBREC_PS_REJECT(ErrorCode::kBadRequest, "pull: mode ", static_cast<int>(mode),
                       " is none of TRAIN (1), READ_ONLY (2) and WITH_STATE (3)");
    }
    const bool with_state = mode == wire::PullMode::WITH_STATE;
    std::shared_lock<std::shared_mutex> lock(store_mutex_);
    RowTable& t = store_->table(table);
    const int64_t n = key_count(keys, options_.max_keys_per_request);
    const int64_t width = with_state ? t.slot_floats() : t.dim();
    const uint64_t bytes = static_cast<uint64_t>(n) * width * sizeof(float);
    if (bytes > INT32_MAX) {
      HYBREC_PS_REJECT(ErrorCode::kTooLarge, "pull of ", n, " keys x ",
                       with_state ? "dim + optimizer state " : "dim ", width, " would reply ",
                       bytes, " bytes, more than a Thrift string holds");
    }
    std::vector<int64_t> key_scratch;
    const int64_t* k = view_as<int64_t>(keys, &key_scratch);
    check_owned("pull", table, k, n);
    // A pull refused by the row cap throws after reserve(): the processor
    // then discards the half-written reply (reply_buffer.h).
    uint8_t* out = reserve(static_cast<uint32_t>(bytes));
    if (with_state) {
      t.pull_with_state_bytes(k, n, out);
    } else {
      t.pull_bytes(k, n, out,
                   mode == wire::PullMode::READ_ONLY ? PullMode::kReadOnly : PullMode::kTrain);
    }
    ++pull_requests_;
    keys_pulled_ += n;
  });
}

// The checks shared by push, push_delta and assign: the table, the keys,
// `values` ("grads", "deltas" or "rows") of n x width finite floats. Then
// apply(table, keys, n, values), under the store lock.
template <typename Apply>
void PsService::with_rows(const char* what, const char* values_name, Width width,
                          const std::string& table, const std::string& keys,
                          const std::string& values, Apply&& apply) {
  guarded(what, [&] {
    std::shared_lock<std::shared_mutex> lock(store_mutex_);
    RowTable& t = store_->table(table);
    const int64_t n = key_count(keys, options_.max_keys_per_request);
    if (width == Width::kSlot) {
      check_slot_bytes(values_name, values, n, t);
    } else {
      check_row_bytes(values_name, values, n, t);
    }
    std::vector<int64_t> key_scratch;
    std::vector<float> value_scratch;
    const int64_t* k = view_as<int64_t>(keys, &key_scratch);
    const float* v = view_as<float>(values, &value_scratch);
    check_owned(what, table, k, n);
    check_finite(values_name, v, n, width == Width::kSlot ? t.slot_floats() : t.dim(), k);
    apply(t, k, n, v);
  });
}

PsService::PushLedger& PsService::ledger(int64_t client_id) {
  std::lock_guard<std::mutex> lock(ledgers_mutex_);
  auto& entry = ledgers_[client_id];
  if (!entry) entry = std::make_unique<PushLedger>();
  return *entry;
}

template <typename Apply>
void PsService::apply_once(const char* what, int64_t client_id, int64_t sequence, int64_t n,
                           Apply&& apply) {
  if (client_id != 0 && sequence < 1) {
    HYBREC_PS_REJECT(ErrorCode::kBadRequest, what, ": sequence ", sequence, " of client ",
                     client_id, " must be >= 1 (pushes count from 1)");
  }
  std::unique_lock<std::mutex> once;
  if (client_id != 0) {
    PushLedger& l = ledger(client_id);
    once = std::unique_lock<std::mutex>(l.mutex);
    if (sequence <= l.applied) return;  // a retry of an applied push
    // Recorded only once the push is applied: a push refused (the row cap)
    // may be retried with the same sequence.
    pushes_unadmitted_ += apply();
    l.applied = sequence;
  } else {
    pushes_unadmitted_ += apply();
  }
  ++push_requests_;
  keys_pushed_ += n;
}

void PsService::push(wire::Ack& ack, const std::string& table, const std::string& keys,
                     const std::string& grads, int64_t client_id, int64_t sequence) {
  with_rows("push", "grads", Width::kRow, table, keys, grads,
            [&](RowTable& t, const int64_t* k, int64_t n, const float* g) {
              apply_once("push", client_id, sequence, n, [&] { return t.push(k, n, g); });
            });
  ack = ack_of(incarnation_);
}

void PsService::push_delta(wire::Ack& ack, const std::string& table, const std::string& keys,
                           const std::string& deltas, int64_t client_id, int64_t sequence) {
  with_rows("push_delta", "deltas", Width::kSlot, table, keys, deltas,
            [&](RowTable& t, const int64_t* k, int64_t n, const float* d) {
              apply_once("push_delta", client_id, sequence, n, [&] { return t.add(k, n, d); });
            });
  ack = ack_of(incarnation_);
}

void PsService::assign(wire::Ack& ack, const std::string& table, const std::string& keys,
                       const std::string& rows) {
  with_rows("assign", "rows", Width::kRow, table, keys, rows,
            [](RowTable& t, const int64_t* k, int64_t n, const float* r) { t.assign(k, n, r); });
  ack = ack_of(incarnation_);
}

void PsService::require_checkpoint_dir(const char* what) const {
  if (options_.checkpoint_dir.empty()) {
    HYBREC_PS_REJECT(ErrorCode::kNotConfigured, what, ": shard ", options_.shard.index,
                     " was started without --checkpoint-dir");
  }
}

void PsService::save_as(const std::string& root, const std::string& name, int64_t version) {
  std::lock_guard<std::mutex> checkpoint_lock(checkpoint_mutex_);
  std::shared_ptr<RowStore> store = current_store();
  try {
    write_checkpoint(root, name, version, options_.shard, *store);
  } catch (...) {
    // No save of this shard runs now (the lock): whatever .tmp- file of ours
    // is left (an earlier process killed mid-save) is stale.
    remove_stale_temporaries(options_.checkpoint_dir, options_.shard);
    throw;
  }
  last_checkpoint_version_ = version;
}

void PsService::load_from(const std::string& root, const std::string& name) {
  std::lock_guard<std::mutex> checkpoint_lock(checkpoint_mutex_);
  std::shared_ptr<RowStore> current = current_store();
  LoadedCheckpoint loaded = read_checkpoint(root, name, options_.shard, *slicer_, *current);
  {
    std::unique_lock<std::shared_mutex> lock(store_mutex_);
    store_ = std::move(loaded.store);
  }
  last_checkpoint_version_ = loaded.version;
}

namespace {
void check_version(const char* what, int64_t version) {
  if (version < 0) {
    HYBREC_PS_REJECT(ErrorCode::kBadRequest, what, ": version ", version, " is negative");
  }
}
}  // namespace

void PsService::save(wire::Ack& ack, const std::string& run, int64_t version) {
  guarded("save", [&] {
    check_run_id(run);
    check_version("save", version);
    require_checkpoint_dir("save");
    save_as(run_snapshot_root(options_.checkpoint_dir, run), checkpoint_name(version), version);
  });
  ack = ack_of(incarnation_);
}

void PsService::load(wire::Ack& ack, const std::string& run, int64_t version) {
  guarded("load", [&] {
    check_run_id(run);
    check_version("load", version);
    require_checkpoint_dir("load");
    load_from(run_snapshot_root(options_.checkpoint_dir, run), checkpoint_name(version));
  });
  ack = ack_of(incarnation_);
}

void PsService::prune(wire::Ack& ack, const std::string& run, const std::vector<int64_t>& keep) {
  guarded("prune", [&] {
    check_run_id(run);
    for (int64_t v : keep) check_version("prune", v);
    require_checkpoint_dir("prune");
    std::lock_guard<std::mutex> checkpoint_lock(checkpoint_mutex_);
    prune_run_snapshots(options_.checkpoint_dir, run, options_.shard, keep);
  });
  ack = ack_of(incarnation_);
}

void PsService::save_latest() {
  if (options_.checkpoint_dir.empty()) return;
  // The latest checkpoint carries the version it continues from, so a
  // restart reports where its rows came from.
  save_as(options_.checkpoint_dir, kLatestCheckpoint, last_checkpoint_version_.load());
}

bool PsService::restore_latest() {
  if (options_.checkpoint_dir.empty()) return false;
  const int64_t freed = remove_stale_temporaries(options_.checkpoint_dir, options_.shard);
  if (freed > 0) {
    std::cerr << "hybrec ps: shard " << options_.shard.index << " removed " << freed
              << " bytes of temporary files that interrupted saves left in "
              << options_.checkpoint_dir << std::endl;
  }
  if (!checkpoint_exists(options_.checkpoint_dir, kLatestCheckpoint) ||
      shard_never_saved(options_.checkpoint_dir, kLatestCheckpoint, options_.shard)) {
    return false;
  }
  load_from(options_.checkpoint_dir, kLatestCheckpoint);
  return true;
}

int64_t PsService::evict_expired() {
  std::shared_ptr<RowStore> store = current_store();
  int64_t evicted = 0;
  for (const RowTable* t : store->tables()) {
    RowTable& table = store->table(t->spec().name);
    evicted += table.evict_expired(table.now_s());
  }
  rows_evicted_ += evicted;
  return evicted;
}

void PsService::start_sweeper() {
  std::lock_guard<std::mutex> lock(sweeper_mutex_);
  if (sweeper_.joinable() || sweeper_stopping_) return;
  sweeper_ = std::thread([this] { sweep_loop(); });
}

void PsService::sweep_loop() {
  const auto interval = std::chrono::duration<double>(options_.eviction_sweep_s);
  std::unique_lock<std::mutex> lock(sweeper_mutex_);
  while (!sweeper_cv_.wait_for(lock, interval, [this] { return sweeper_stopping_; })) {
    lock.unlock();
    evict_expired();
    lock.lock();
  }
}

void PsService::stats(wire::ServerStats& out) {
  guarded("stats", [&] {
    std::shared_ptr<RowStore> store = current_store();
    out.__set_shard_index(options_.shard.index);
    out.__set_num_shards(options_.shard.count);
    std::vector<wire::TableStats> tables;
    for (const RowTable* t : store->tables()) {
      wire::TableStats s;
      s.__set_spec(to_wire(t->spec()));
      s.__set_rows(t->size());
      s.__set_bytes(t->bytes());
      tables.push_back(std::move(s));
    }
    out.__set_tables(std::move(tables));
    out.__set_pull_requests(pull_requests_.load());
    out.__set_push_requests(push_requests_.load());
    out.__set_keys_pulled(keys_pulled_.load());
    out.__set_keys_pushed(keys_pushed_.load());
    out.__set_rejected_requests(rejected_requests_.load());
    out.__set_last_checkpoint_version(last_checkpoint_version_.load());
    out.__set_uptime_s(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    out.__set_incarnation(incarnation_);
    out.__set_rows_evicted(rows_evicted_.load());
    out.__set_pushes_unadmitted(pushes_unadmitted_.load());
  });
}

void PsService::auth_begin(std::string&, const std::string&) {
  throw to_wire(RequestError(ErrorCode::kUnauthenticated,
                             "auth_begin is answered by the server's connection layer", __FILE__,
                             __LINE__));
}

void PsService::auth_finish(const std::string&) {
  throw to_wire(RequestError(ErrorCode::kUnauthenticated,
                             "auth_finish is answered by the server's connection layer", __FILE__,
                             __LINE__));
}

void PsService::health(wire::Health& out) {
  out.__set_wire_version(wire::g_ps_constants.WIRE_VERSION);
  out.__set_shard_index(options_.shard.index);
  out.__set_num_shards(options_.shard.count);
  out.__set_serving(true);
  out.__set_incarnation(incarnation_);
}

}  // namespace hybrec::ps
