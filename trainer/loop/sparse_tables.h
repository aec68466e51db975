// The id-embedding tables ("user", "item") on the parameter server, as the
// training loop uses them: created with the config's optimizer, pulled and
// pushed per batch through the deduplicated keys of a Batch, snapshotted at
// checkpoints (the snapshot's version is the training step).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "parameter_server/client.h"
#include "trainer/loop/config.h"
#include "trainer/model/batch.h"

namespace hybrec::ps {
class PsServer;
}

namespace hybrec::trainer {

inline constexpr const char* kUserTable = "user";
inline constexpr const char* kItemTable = "item";

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

  // Blocking pull of any rows of one table.
  void fetch(const std::string& table, const int64_t* keys, int64_t n, float* out);

  void save(int64_t version) { client_.save(version); }
  void load(int64_t version) { client_.load(version); }

 private:
  ps::PsClient client_;
  std::vector<ps::TableSpec> specs_;
  int64_t dim_;
};

// Parameter-server shards served by threads of this process, on loopback
// ports of their own choosing: what `hybrec train` uses when neither MPI nor
// --ps gives it servers. Each shard snapshots into `checkpoint_dir`.
class LocalServers {
 public:
  LocalServers(int shards, const std::string& checkpoint_dir, int64_t max_frame_bytes);
  ~LocalServers();  // stops and joins every shard
  LocalServers(const LocalServers&) = delete;
  LocalServers& operator=(const LocalServers&) = delete;
  const std::vector<ps::Endpoint>& endpoints() const { return endpoints_; }

 private:
  std::vector<std::unique_ptr<ps::PsServer>> servers_;
  std::vector<std::thread> threads_;
  std::vector<ps::Endpoint> endpoints_;
};

}  // namespace hybrec::trainer
