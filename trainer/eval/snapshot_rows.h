// The id tables of a finished run, read straight from a parameter-server
// snapshot (all shards' files, resharded into this process), so `hybrec eval`
// needs no running server.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "trainer/eval/model_scorer.h"

namespace hybrec::ps {
class RowStore;
}

namespace hybrec::trainer {

class SnapshotRows {
 public:
  // Reads snapshot v<version> under ps_dir. Errors name the directory and file.
  SnapshotRows(const std::string& ps_dir, int64_t version);
  ~SnapshotRows();
  // A fetcher over the snapshot's rows (rows the run never touched get their
  // deterministic initial values, as a server would give them).
  RowFetcher fetcher();

 private:
  std::unique_ptr<ps::RowStore> store_;
};

}  // namespace hybrec::trainer
