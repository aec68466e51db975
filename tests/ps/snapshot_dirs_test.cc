// Finding 6 of the integrity review: killed saves left temporaries that were
// never cleaned (4 kills left 664 MB in DIR/latest), versioned snapshots
// were never pruned, and two runs sharing servers saved into the same ps/v78.
#include "parameter_server/store/snapshot_dirs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "parameter_server/server/service.h"
#include "parameter_server/wire/errors.h"
#include "parameter_server/wire/wire_convert.h"
#include "ps_testing.h"
#include "service_calls.h"

namespace hybrec::ps {
namespace {

namespace fs = std::filesystem;

void write_bytes(const fs::path& path, size_t n) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << std::string(n, 'x');
}

TEST(SnapshotDirs, StaleTemporariesOfThisShardAreRemovedAndOthersKept) {
  testing::TempDir dir;
  const fs::path root = dir.path();
  const fs::path mine1 = root / "latest/shard-00001-of-00002.h5.tmp-4242.0";
  const fs::path mine2 = root / "runs/r1/v7/shard-00001-of-00002.h5.tmp-99.3";
  const fs::path other = root / "latest/shard-00000-of-00002.h5.tmp-4242.1";
  const fs::path manifest_tmp = root / "latest/MANIFEST.tmp-4242.2";
  const fs::path real = root / "latest/shard-00001-of-00002.h5";
  write_bytes(mine1, 1000);
  write_bytes(mine2, 500);
  write_bytes(other, 10);
  write_bytes(manifest_tmp, 10);
  write_bytes(real, 10);
  EXPECT_EQ(remove_stale_temporaries(root.string(), ShardId{1, 2}), 1500);
  EXPECT_FALSE(fs::exists(mine1));
  EXPECT_FALSE(fs::exists(mine2));
  EXPECT_TRUE(fs::exists(other)) << "another shard's temporary (it may be writing it)";
  EXPECT_TRUE(fs::exists(manifest_tmp)) << "shard 0 writes the manifest, not shard 1";
  EXPECT_TRUE(fs::exists(real));
  // Shard 0 owns the manifest's temporaries too.
  EXPECT_EQ(remove_stale_temporaries(root.string(), ShardId{0, 2}), 20);
  EXPECT_FALSE(fs::exists(manifest_tmp));
  EXPECT_FALSE(fs::exists(other));
}

TEST(SnapshotDirs, AShardStartingUpRemovesItsStaleTemporaries) {
  testing::TempDir dir;
  const fs::path stale = fs::path(dir.path()) / "latest/shard-00000-of-00001.h5.tmp-1.0";
  write_bytes(stale, 4096);
  PsService service(ServiceOptions{ShardId{0, 1}, dir.path(), 1000});
  EXPECT_FALSE(service.restore_latest());
  EXPECT_FALSE(fs::exists(stale));
}

TEST(SnapshotDirs, RunsSharingServersNeverOverwriteEachOther) {
  testing::TempDir dir;
  PsService shard(ServiceOptions{ShardId{0, 1}, dir.path(), 1000});
  testing::ServiceCalls calls{shard};
  calls.create_table(to_wire(testing::test_spec("items", 2, Optimizer::kSgd)));
  const int64_t key = 3;
  const std::string k = testing::pack_keys(&key, 1);
  float g[2] = {1, 1};
  calls.push("items", k, testing::pack_floats(g, 2), 0, 0);
  std::string a, b, loaded;
  calls.pull(a, "items", k);
  calls.save(78, "run-a");
  calls.push("items", k, testing::pack_floats(g, 2), 0, 0);
  calls.pull(b, "items", k);
  calls.save(78, "run-b");  // the same version, another run
  calls.load(78, "run-a");
  calls.pull(loaded, "items", k);
  EXPECT_EQ(loaded, a) << "run-b's save overwrote run-a's";
  calls.load(78, "run-b");
  calls.pull(loaded, "items", k);
  EXPECT_EQ(loaded, b);
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "runs/run-a/v78/MANIFEST"));
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "runs/run-b/v78/MANIFEST"));
}

TEST(SnapshotDirs, PruneKeepsExactlyTheListedVersions) {
  testing::TempDir dir;
  PsService shard(ServiceOptions{ShardId{0, 1}, dir.path(), 1000});
  testing::ServiceCalls calls{shard};
  calls.create_table(to_wire(testing::test_spec("items", 2, Optimizer::kSgd)));
  for (int64_t v : {1, 2, 3, 4, 5}) calls.save(v, "r");
  calls.save(1, "other");
  calls.prune({2, 5}, "r");
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(fs::path(dir.path()) / "runs/r")) {
    left.insert(e.path().filename().string());
  }
  EXPECT_EQ(left, (std::set<std::string>{"v2", "v5"}));
  EXPECT_TRUE(fs::exists(fs::path(dir.path()) / "runs/other/v1/MANIFEST")) << "pruned another run";
  calls.load(5, "r");  // what is kept still loads
}

TEST(SnapshotDirs, RunIdsAreOneSafePathComponent) {
  for (const std::string& bad :
       std::vector<std::string>{"", "..", "a/b", "a b", "../../etc", std::string(65, 'a')}) {
    EXPECT_THROW(check_run_id(bad), RequestError) << bad;
  }
  check_run_id("r0123456789abcdef");
  check_run_id("my_run-2");
}

}  // namespace
}  // namespace hybrec::ps
