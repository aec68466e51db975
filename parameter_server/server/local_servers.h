// Parameter-server shards served by threads of this process, on loopback
// ports of their own choosing: what `hybrec train` starts when neither MPI
// nor --ps gives it servers (a one-process run). Each shard snapshots into
// `checkpoint_dir`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "parameter_server/wire/endpoint.h"

namespace hybrec::ps {

class PsServer;

class LocalServers {
 public:
  LocalServers(int shards, const std::string& checkpoint_dir, int64_t max_frame_bytes);
  ~LocalServers();  // stops and joins every shard
  LocalServers(const LocalServers&) = delete;
  LocalServers& operator=(const LocalServers&) = delete;
  const std::vector<Endpoint>& endpoints() const { return endpoints_; }

 private:
  std::vector<std::unique_ptr<PsServer>> servers_;
  std::vector<std::thread> threads_;
  std::vector<Endpoint> endpoints_;
};

}  // namespace hybrec::ps
