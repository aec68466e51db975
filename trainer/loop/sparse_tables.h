// The id-embedding tables ("user", "item") on the parameter server, as the
// training loop uses them: created with the config's optimizer, pulled and
// pushed per batch through the deduplicated keys of a Batch, snapshotted at
// checkpoints (the snapshot's version is the training step).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parameter_server/client/client.h"
#include "trainer/loop/config.h"
#include "trainer/model/batch.h"
#include "trainer/model/id_tables.h"

namespace hybrec::trainer {

class SparseTables {
 public:
  // One in-flight pull or push of a batch's user and item rows.
  struct Pending {
    ps::PsClient::Request user, item;
    void wait() {
      user.wait();
      item.wait();
    }
  };

  SparseTables(const std::vector<ps::Endpoint>& endpoints, const TrainConfig& config);

  // Creates both tables on every shard (idempotent).
  void create_tables();

  int64_t dim() const { return dim_; }

  // user_rows [user_ids, dim] and item_rows [item_ids, dim] of the batch.
  Pending pull(const Batch& batch, float* user_rows, float* item_rows);
  Pending push(const Batch& batch, const float* user_grads, const float* item_grads);

  // Blocking read-only pull of any rows of one table (evaluation): unknown
  // keys come back as their initial rows and nothing is stored.
  void fetch(const std::string& table, const int64_t* keys, int64_t n, float* out);

  void save(const std::string& run, int64_t version) { client_.save(run, version); }
  void load(const std::string& run, int64_t version) { client_.load(run, version); }
  void prune(const std::string& run, const std::vector<int64_t>& keep) { client_.prune(run, keep); }

 private:
  ps::PsClient client_;
  std::vector<ps::TableSpec> specs_;
  int64_t dim_;
};

}  // namespace hybrec::trainer
