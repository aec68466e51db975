#include "trainer/eval/snapshot_rows.h"

#include "hybrec/kernels/error.h"
#include "parameter_server/store/checkpoint.h"
#include "parameter_server/store/row_store.h"
#include "parameter_server/store/snapshot_dirs.h"
#include "parameter_server/wire/slicer.h"

namespace hybrec::trainer {

SnapshotRows::SnapshotRows(const std::string& ps_dir, const std::string& run, int64_t version) {
  HYBREC_CHECK(version >= 0,
               "this checkpoint has no parameter-server snapshot (a model without id tables)");
  const ps::RowStore empty;
  ps::JumpHashSlicer one_shard(1);
  const std::string root = run.empty() ? ps_dir : ps::run_snapshot_root(ps_dir, run);
  ps::LoadedCheckpoint loaded =
      ps::read_checkpoint(root, ps::checkpoint_name(version), ps::ShardId{0, 1}, one_shard, empty);
  store_ = std::move(loaded.store);
}

SnapshotRows::~SnapshotRows() = default;

RowFetcher SnapshotRows::fetcher() {
  return
      [store = store_.get()](const std::string& table, const int64_t* keys, int64_t n, float* out) {
        store->table(table).pull(keys, n, out, ps::PullMode::kReadOnly);
      };
}

}  // namespace hybrec::trainer
