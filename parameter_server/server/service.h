// The parameter-server shard's request handler: ps.thrift's service over a
// RowStore, without any socket. The server (server.h) puts it behind Thrift;
// unit tests call it directly.
//
// Every request is validated in full before anything is touched (fields
// present, table, lengths, dims, key ownership, finiteness, row cap), so a
// rejected request changes nothing; it answers with a PsError naming the
// problem and the shard keeps serving.
//
// Identity: the service draws a random incarnation id when it is made (once
// per process start) and puts it in health, stats and every reply, so a
// client can tell a restarted shard from the one it was talking to.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ParameterServer.h"
#include "parameter_server/store/checkpoint.h"
#include "parameter_server/store/row_store.h"

namespace hybrec::ps {

struct ServiceOptions {
  ShardId shard;
  std::string checkpoint_dir;  // empty: save/load answer NOT_CONFIGURED
  // Keys one pull/push/assign may carry; the frame limit bounds it anyway,
  // this gives a clear TOO_LARGE instead of a dropped connection.
  int64_t max_keys_per_request = 16 << 20;
  // How often rows past their table's ttl_s are swept (a thread that runs
  // only once a table with ttl_s exists).
  double eviction_sweep_s = 1.0;
};

class PsService : public wire::ParameterServerIf {
 public:
  explicit PsService(ServiceOptions options);
  ~PsService() override;

  void create_table(wire::Ack& ack, const wire::TableSpec& spec) override;
  void pull(wire::PullReply& reply, const std::string& table, const std::string& keys,
            wire::PullMode::type mode) override;
  // pull, writing the rows into space the caller provides: reserve(bytes) is
  // called once the request is valid and returns where the rows go.
  void pull_into(const std::string& table, const std::string& keys, wire::PullMode::type mode,
                 const std::function<uint8_t*(uint32_t bytes)>& reserve);
  void push(wire::Ack& ack, const std::string& table, const std::string& keys,
            const std::string& grads, int64_t client_id, int64_t sequence) override;
  void push_delta(wire::Ack& ack, const std::string& table, const std::string& keys,
                  const std::string& deltas, int64_t client_id, int64_t sequence) override;
  void assign(wire::Ack& ack, const std::string& table, const std::string& keys,
              const std::string& rows) override;
  void save(wire::Ack& ack, const std::string& run, int64_t version) override;
  void load(wire::Ack& ack, const std::string& run, int64_t version) override;
  void prune(wire::Ack& ack, const std::string& run, const std::vector<int64_t>& keep) override;
  void stats(wire::ServerStats& out) override;
  void health(wire::Health& out) override;
  // Authentication is per connection: PsProcessor answers these itself
  // (processor.h); called on the service directly they refuse.
  void auth_begin(std::string& reply, const std::string& client_nonce) override;
  void auth_finish(const std::string& client_proof) override;

  int64_t incarnation() const { return incarnation_; }
  // The error for a request that lacks a field its handler reads (the
  // processor checks presence, which the handlers cannot see); counted as
  // rejected.
  wire::PsError missing_field(const char* method, const char* field);

  // Writes <checkpoint_dir>/latest (periodic and final checkpoints). Throws
  // like save(); a no-op without a checkpoint dir.
  void save_latest();
  // Removes this shard's stale temporaries, then loads
  // <checkpoint_dir>/latest when this shard's part of it exists; returns
  // whether it did. Called once at startup.
  bool restore_latest();
  // Evicts the rows past their table's ttl_s now; returns how many.
  int64_t evict_expired();

 private:
  // The store that requests see, held for the duration of a request so a
  // load() swaps it only between requests.
  std::shared_ptr<RowStore> current_store() const;
  void save_as(const std::string& root, const std::string& name, int64_t version);
  void load_from(const std::string& root, const std::string& name);
  void require_checkpoint_dir(const char* what) const;
  // Throws WRONG_SHARD naming the first key this shard does not own.
  void check_owned(const char* what, const std::string& table, const int64_t* keys,
                   int64_t n) const;
  template <typename Fn>
  auto guarded(const char* what, Fn&& fn) -> decltype(fn());
  // What a request carries per key: its row (grads, rows) or its whole
  // slot, the row followed by its optimizer state (deltas).
  enum class Width { kRow, kSlot };
  template <typename Apply>
  void with_rows(const char* what, const char* values_name, Width width, const std::string& table,
                 const std::string& keys, const std::string& values, Apply&& apply);
  // Runs apply() (which returns the keys it dropped as unadmitted) unless
  // client_id's ledger shows sequence applied already, then records it;
  // counts the request as a push of n keys.
  template <typename Apply>
  void apply_once(const char* what, int64_t client_id, int64_t sequence, int64_t n, Apply&& apply);
  void start_sweeper();
  void sweep_loop();

  ServiceOptions options_;
  const int64_t incarnation_;
  std::unique_ptr<Slicer> slicer_;
  mutable std::shared_mutex store_mutex_;
  std::shared_ptr<RowStore> store_;
  std::mutex checkpoint_mutex_;  // one save or load at a time
  const std::chrono::steady_clock::time_point started_;

  // Exactly-once pushes and push_deltas (see ps.thrift; one ledger for both,
  // as a client numbers them together): per client, the highest sequence
  // applied, and a mutex held while one of its pushes is checked and applied
  // (a retry on a new connection may race the original still in progress).
  // In memory only: a restart is a new incarnation, which clients detect.
  struct PushLedger {
    std::mutex mutex;
    int64_t applied = 0;
  };
  PushLedger& ledger(int64_t client_id);
  std::mutex ledgers_mutex_;
  std::unordered_map<int64_t, std::unique_ptr<PushLedger>> ledgers_;

  std::atomic<int64_t> pull_requests_{0}, push_requests_{0};
  std::atomic<int64_t> keys_pulled_{0}, keys_pushed_{0};
  std::atomic<int64_t> rejected_requests_{0};
  std::atomic<int64_t> last_checkpoint_version_{-1};
  std::atomic<int64_t> rows_evicted_{0}, pushes_unadmitted_{0};

  std::mutex sweeper_mutex_;
  std::condition_variable sweeper_cv_;
  bool sweeper_stopping_ = false;
  std::thread sweeper_;
};

}  // namespace hybrec::ps
