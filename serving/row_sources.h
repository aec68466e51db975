// Where serving reads id rows from: the live parameter servers (read-only
// pulls, nothing stored on them) or, with no servers, the run's checkpoint
// snapshot files. Both give a thread-safe trainer::RowFetcher.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "parameter_server/client/client.h"
#include "trainer/eval/model_scorer.h"
#include "trainer/eval/snapshot_rows.h"

namespace hybrec::serving {

// A pool of PsClients (a client serves one thread at a time): each fetch
// borrows one. Failures are counted for /metrics and rethrown.
class LiveRows {
 public:
  LiveRows(std::vector<ps::Endpoint> endpoints, ps::ClientOptions options, int64_t dim);
  ~LiveRows();
  trainer::RowFetcher fetcher();
  int64_t errors() const { return errors_.load(); }
  std::string describe() const { return describe_; }

 private:
  void fetch(const std::string& table, const int64_t* keys, int64_t n, float* out);

  std::vector<ps::Endpoint> endpoints_;
  ps::ClientOptions options_;
  int64_t dim_;
  std::string describe_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<ps::PsClient>> idle_;
  std::atomic<int64_t> errors_{0};
};

}  // namespace hybrec::serving
