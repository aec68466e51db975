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
  // Reads snapshot v<version> of run under ps_dir (ps_dir/runs/<run>/; an
  // empty run: ps_dir itself, the layout before run namespaces). Errors
  // name the directory and file.
  SnapshotRows(const std::string& ps_dir, const std::string& run, int64_t version);
  ~SnapshotRows();
  // A fetcher over the snapshot's rows (rows the run never touched get their
  // deterministic initial values, as a server would give them).
  RowFetcher fetcher();

 private:
  std::unique_ptr<ps::RowStore> store_;
};

}  // namespace hybrec::trainer
