// The id-embedding tables ("user", "item") on the parameter server, as the
// training loop uses them: created with the config's optimizer, pulled and
// pushed per batch through the deduplicated keys of a Batch, snapshotted at
// checkpoints (the snapshot's version is the training step).
//
// Shard restarts (ps::ShardRestartedError, client.h): by default every call
// rethrows them, so the run stops naming the shard. Under
// RestartPolicy::kRecord (ps.on_restart = "rewind", while the training loop
// runs) a call that meets one records the shard instead and returns; its
// outputs are then unspecified (finite: pulled rows keep what the buffer
// held, fetched rows are zero), every other request still completes, and
// the loop rewinds every rank to the last checkpoint (trainer.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parameter_server/client/client.h"
#include "trainer/loop/config.h"
#include "trainer/model/batch.h"
#include "trainer/model/id_tables.h"

namespace hybrec::trainer {

enum class RestartPolicy { kThrow, kRecord };

class SparseTables {
 public:
  // One in-flight pull or push of a batch's user and item rows.
  struct Pending {
    ps::PsClient::Request user, item;
    SparseTables* tables = nullptr;
    // Waits for both requests (also when the first fails), then rethrows
    // the first failure that the tables' restart policy does not record.
    void wait();
  };

  SparseTables(const std::vector<ps::Endpoint>& endpoints, const TrainConfig& config);

  // Creates both tables on every shard (idempotent).
  void create_tables();

  int64_t dim() const { return dim_; }
  int num_shards() const { return static_cast<int>(endpoints_.size()); }
  // "shard I at HOST:PORT"
  std::string describe_shard(int shard) const;

  // user_rows [user_ids, dim] and item_rows [item_ids, dim] of the batch.
  Pending pull(const Batch& batch, float* user_rows, float* item_rows);
  Pending push(const Batch& batch, const float* user_grads, const float* item_grads);

  // The row cache's traffic (row_cache.h): rows with their optimizer state
  // ([n, width(table)]), gradients of some keys, and deltas added to rows
  // and state.
  const ps::TableSpec& spec(const std::string& table) const;
  int64_t width(const std::string& table) const;  // dim + optimizer state floats
  Pending pull_with_state(const std::vector<int64_t>& user_keys, float* user_rows,
                          const std::vector<int64_t>& item_keys, float* item_rows);
  Pending push(const std::vector<int64_t>& user_keys, const float* user_grads,
               const std::vector<int64_t>& item_keys, const float* item_grads);
  void pull_with_state(const std::string& table, const int64_t* keys, int64_t n, float* out);
  void push_delta(const std::string& table, const int64_t* keys, int64_t n, const float* deltas);

  // Blocking read-only pull of any rows of one table (evaluation): unknown
  // keys come back as their initial rows and nothing is stored.
  void fetch(const std::string& table, const int64_t* keys, int64_t n, float* out);

  void save(const std::string& run, int64_t version);
  void load(const std::string& run, int64_t version) { client_.load(run, version); }
  void prune(const std::string& run, const std::vector<int64_t>& keep);

  void set_restart_policy(RestartPolicy policy) { policy_ = policy; }
  // The shards recorded restarted since the last accept_restarts(), in
  // index order, and the first recorded error's message.
  const std::vector<int>& restarted_shards() const { return restarted_; }
  const std::string& restart_message() const { return restart_message_; }
  // Adopts the shards' new incarnations and clears the record: call on
  // every rank before one snapshot is loaded on every shard.
  void accept_restarts();

 private:
  // Runs call(); records a ShardRestartedError under kRecord, else rethrows.
  // Returns whether call() completed.
  template <typename Call>
  bool guarded(Call&& call);
  void record(const ps::ShardRestartedError& error);

  std::vector<ps::Endpoint> endpoints_;
  ps::PsClient client_;
  std::vector<ps::TableSpec> specs_;
  int64_t dim_;
  RestartPolicy policy_ = RestartPolicy::kThrow;
  std::vector<int> restarted_;
  std::string restart_message_;
};

}  // namespace hybrec::trainer
