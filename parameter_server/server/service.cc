#include "parameter_server/server/service.h"

#include <cmath>
#include <cstring>
#include <new>
#include <vector>

#include "parameter_server/wire/payload.h"
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

}  // namespace

PsService::PsService(ServiceOptions options)
    : options_(std::move(options)),
      slicer_(make_default_slicer(options_.shard.count)),
      store_(std::make_shared<RowStore>()),
      started_(std::chrono::steady_clock::now()) {
  HYBREC_CHECK(options_.shard.index >= 0 && options_.shard.index < options_.shard.count,
               "shard index ", options_.shard.index, " out of range [0, ", options_.shard.count,
               ")");
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

void PsService::create_table(const wire::TableSpec& spec) {
  guarded("create_table", [&] {
    std::shared_lock<std::shared_mutex> lock(store_mutex_);
    store_->create_table(from_wire(spec));
  });
}

void PsService::pull(std::string& rows, const std::string& table, const std::string& keys) {
  pull_into(table, keys, [&](uint32_t bytes) {
    rows.resize(bytes);
    return reinterpret_cast<uint8_t*>(rows.data());
  });
}

void PsService::pull_into(const std::string& table, const std::string& keys,
                          const std::function<uint8_t*(uint32_t bytes)>& reserve) {
  guarded("pull", [&] {
    std::shared_lock<std::shared_mutex> lock(store_mutex_);
    RowTable& t = store_->table(table);
    const int64_t n = key_count(keys, options_.max_keys_per_request);
    const uint64_t bytes = static_cast<uint64_t>(n) * t.dim() * sizeof(float);
    if (bytes > INT32_MAX) {
      HYBREC_PS_REJECT(ErrorCode::kTooLarge, "pull of ", n, " keys x dim ", t.dim(),
                       " would reply ", bytes, " bytes, more than a Thrift string holds");
    }
    std::vector<int64_t> key_scratch;
    const int64_t* k = view_as<int64_t>(keys, &key_scratch);
    t.pull_bytes(k, n, reserve(static_cast<uint32_t>(bytes)));
    ++pull_requests_;
    keys_pulled_ += n;
  });
}

// The checks shared by push and assign: the table, the keys, `values`
// ("grads" or "rows") of n x dim finite floats. Then apply(table, keys, n,
// values), under the store lock.
template <typename Apply>
void PsService::with_rows(const char* what, const char* values_name, const std::string& table,
                          const std::string& keys, const std::string& values, Apply&& apply) {
  guarded(what, [&] {
    std::shared_lock<std::shared_mutex> lock(store_mutex_);
    RowTable& t = store_->table(table);
    const int64_t n = key_count(keys, options_.max_keys_per_request);
    check_row_bytes(values_name, values, n, t);
    std::vector<int64_t> key_scratch;
    std::vector<float> value_scratch;
    const int64_t* k = view_as<int64_t>(keys, &key_scratch);
    const float* v = view_as<float>(values, &value_scratch);
    check_finite(values_name, v, n, t.dim(), k);
    apply(t, k, n, v);
  });
}

PsService::PushLedger& PsService::ledger(int64_t client_id) {
  std::lock_guard<std::mutex> lock(ledgers_mutex_);
  auto& entry = ledgers_[client_id];
  if (!entry) entry = std::make_unique<PushLedger>();
  return *entry;
}

void PsService::push(const std::string& table, const std::string& keys, const std::string& grads,
                     int64_t client_id, int64_t sequence) {
  with_rows("push", "grads", table, keys, grads,
            [&](RowTable& t, const int64_t* k, int64_t n, const float* g) {
              std::unique_lock<std::mutex> once;
              if (client_id != 0) {
                PushLedger& l = ledger(client_id);
                once = std::unique_lock<std::mutex>(l.mutex);
                if (sequence <= l.applied) return;  // a retry of an applied push
                l.applied = sequence;
              }
              t.push(k, n, g);
              ++push_requests_;
              keys_pushed_ += n;
            });
}

void PsService::assign(const std::string& table, const std::string& keys, const std::string& rows) {
  with_rows("assign", "rows", table, keys, rows,
            [](RowTable& t, const int64_t* k, int64_t n, const float* r) { t.assign(k, n, r); });
}

void PsService::require_checkpoint_dir(const char* what) const {
  if (options_.checkpoint_dir.empty()) {
    HYBREC_PS_REJECT(ErrorCode::kNotConfigured, what, ": shard ", options_.shard.index,
                     " was started without --checkpoint-dir");
  }
}

void PsService::save_as(const std::string& name, int64_t version) {
  std::lock_guard<std::mutex> checkpoint_lock(checkpoint_mutex_);
  std::shared_ptr<RowStore> store = current_store();
  write_checkpoint(options_.checkpoint_dir, name, version, options_.shard, *store);
  last_checkpoint_version_ = version;
}

void PsService::load_from(const std::string& name) {
  std::lock_guard<std::mutex> checkpoint_lock(checkpoint_mutex_);
  std::shared_ptr<RowStore> current = current_store();
  LoadedCheckpoint loaded =
      read_checkpoint(options_.checkpoint_dir, name, options_.shard, *slicer_, *current);
  {
    std::unique_lock<std::shared_mutex> lock(store_mutex_);
    store_ = std::move(loaded.store);
  }
  last_checkpoint_version_ = loaded.version;
}

void PsService::save(int64_t version) {
  guarded("save", [&] {
    require_checkpoint_dir("save");
    save_as(checkpoint_name(version), version);
  });
}

void PsService::load(int64_t version) {
  guarded("load", [&] {
    require_checkpoint_dir("load");
    load_from(checkpoint_name(version));
  });
}

void PsService::save_latest() {
  if (options_.checkpoint_dir.empty()) return;
  // The latest checkpoint carries the version it continues from, so a
  // restart reports where its rows came from.
  save_as(kLatestCheckpoint, last_checkpoint_version_.load());
}

bool PsService::restore_latest() {
  if (options_.checkpoint_dir.empty() ||
      !checkpoint_exists(options_.checkpoint_dir, kLatestCheckpoint) ||
      shard_never_saved(options_.checkpoint_dir, kLatestCheckpoint, options_.shard)) {
    return false;
  }
  load_from(kLatestCheckpoint);
  return true;
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
}

}  // namespace hybrec::ps
