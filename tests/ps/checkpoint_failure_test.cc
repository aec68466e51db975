// Checkpoints that must fail loudly and leave nothing half-written:
// damaged files (garbage, truncation, a flipped bit), bad manifests and
// arguments, failed writes and renames (the old checkpoint stays, no
// temporary is left), and snapshots taken while pushes continue.
#include "checkpoint_testing.h"

// The suites live in the helpers' namespace: its names (and hybrec::ps's)
// need no using-declarations.
namespace hybrec::ps::checkpoint_testing {
namespace {

class CorruptFileTest : public CheckpointTest {
 protected:
  // An SGD table whose rows are distinctive byte patterns, so a test can
  // find one in the file.
  void SetUp() override {
    CheckpointTest::SetUp();
    RowTable& table = store_.create_table(make_spec("t", 16, Optimizer::kSgd));
    std::vector<int64_t> keys(3000);
    std::vector<float> rows(keys.size() * 16);
    for (size_t i = 0; i < keys.size(); ++i) {
      keys[i] = static_cast<int64_t>(i);
      for (int j = 0; j < 16; ++j) rows[i * 16 + j] = 1000.0f + static_cast<float>(i) + j / 32.0f;
    }
    table.assign(keys.data(), static_cast<int64_t>(keys.size()), rows.data());
    ps::write_checkpoint(root_, "v1", 1, ShardId{0, 1}, store_);
    path_ = file("v1", 0, 1);
    bytes_ = read_bytes(path_);
    ASSERT_GT(bytes_.size(), 3000u * 16 * 4);
  }
  RowStore store_;
  std::string path_, bytes_;
};

TEST_F(CorruptFileTest, IntactFileLoads) {
  expect_same_table(store_.table("t"), load("v1", ShardId{0, 1}).store->table("t"));
}

TEST_F(CorruptFileTest, Garbage) {
  write_bytes(path_, std::string(bytes_.size(), 'x'));
  expect_checkpoint_error([&] { load("v1", ShardId{0, 1}); }, {path_, "H5Fopen"});
}

TEST_F(CorruptFileTest, Truncated) {
  for (size_t keep : {bytes_.size() / 2, bytes_.size() - 100, size_t{512}, size_t{0}}) {
    SCOPED_TRACE(keep);
    write_bytes(path_, bytes_.substr(0, keep));
    expect_checkpoint_error([&] { load("v1", ShardId{0, 1}); }, {path_});
  }
}

TEST_F(CorruptFileTest, FlippedBitInRowData) {
  // Find key 7's row in the file and flip one bit of it: the chunk checksum
  // must catch it, not load a silently wrong embedding.
  const std::vector<float> row = slot_of(store_.table("t"), 7);
  const std::string pattern(reinterpret_cast<const char*>(row.data()), row.size() * sizeof(float));
  const size_t at = bytes_.find(pattern);
  ASSERT_NE(at, std::string::npos);
  std::string damaged = bytes_;
  damaged[at + 21] = static_cast<char>(damaged[at + 21] ^ 0x10);
  write_bytes(path_, damaged);
  expect_checkpoint_error([&] { load("v1", ShardId{0, 1}); }, {path_, "rows"});
}

TEST_F(CheckpointTest, BadManifest) {
  RowStore store;
  ps::write_checkpoint(root_, "v1", 1, ShardId{0, 1}, store);
  const std::string manifest = root_ + "/v1/MANIFEST";
  write_bytes(manifest, "garbage\n");
  expect_checkpoint_error([&] { load("v1", ShardId{0, 1}); }, {manifest, "garbage"});
  write_bytes(manifest, "hybrec-checkpoint 2\nversion 1\nnum_shards 1\n");
  expect_checkpoint_error([&] { load("v1", ShardId{0, 1}); }, {manifest, "format 2"});
  write_bytes(manifest, "hybrec-checkpoint 1\nversion 1\n");
  expect_checkpoint_error([&] { load("v1", ShardId{0, 1}); }, {manifest, "num_shards"});
}

TEST_F(CheckpointTest, BadArguments) {
  expect_checkpoint_error([] { ps::checkpoint_name(-1); }, {"-1"});
  EXPECT_EQ(ps::checkpoint_name(0), "v0");
  EXPECT_EQ(ps::checkpoint_name(123456789012), "v123456789012");
  RowStore store;
  expect_checkpoint_error(
      [&] {
        ps::write_checkpoint(root_, "v1", -3, ShardId{0, 1}, store);
      },
      {"-3"});
  expect_checkpoint_error(
      [&] {
        ps::write_checkpoint(root_, "v1", 1, ShardId{2, 2}, store);
      },
      {"shard 2 of 2"});
  expect_checkpoint_error(
      [&] {
        ps::write_checkpoint(root_, "../x", 1, ShardId{0, 1}, store);
      },
      {"../x"});
  EXPECT_TRUE(entries(root_).empty());
  ps::write_checkpoint(root_, "v1", 1, ShardId{0, 2}, store);
  JumpHashSlicer three(3);
  expect_checkpoint_error(
      [&] {
        ps::read_checkpoint(root_, "v1", ShardId{0, 2}, three, RowStore());
      },
      {"slicer has 3 shards"});
}

// ---------------------------------------------------------------------------
// Atomic replacement

// Writes under a file size limit (RLIMIT_FSIZE, the stand-in for a full
// disk): expects a kCheckpoint error naming the file and the cause, and
// returns its message.
std::string write_with_size_limit(const std::string& root, rlim_t limit, int64_t version,
                                  const RowStore& store) {
  rlimit saved;
  EXPECT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit small = saved;
  small.rlim_cur = limit;
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    ps::write_checkpoint(root, "latest", version, ShardId{0, 1}, store);
    ADD_FAILURE() << "write under a " << limit << "-byte limit succeeded";
  } catch (const ps::RequestError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCheckpoint);
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, old_handler);
  return message;
}

TEST_F(CheckpointTest, FailedWriteLeavesOldFileAndNoTemporary) {
  // Big enough that chunks are evicted (and written) while stripes are
  // still being appended.
  RowStore store;
  RowTable& table = store.create_table(make_spec("t", 16, Optimizer::kRowwiseAdagrad));
  train(table, test_keys(40000), 1, 1);
  ps::write_checkpoint(root_, "latest", 1, ShardId{0, 1}, store);
  const std::string shard_path = file("latest", 0, 1);
  const std::string old_shard = read_bytes(shard_path);
  const std::string old_manifest = read_bytes(root_ + "/latest/MANIFEST");
  ASSERT_GT(old_shard.size(), 2u << 20);
  RowStore old_store;
  RowTable& old_table = old_store.create_table(table.spec());
  table.snapshot([&](const int64_t* k, const float* s, int64_t n) { old_table.restore(k, n, s); });
  train(table, test_keys(40000), 1, 2);

  // The disk fills early, half-way through the rows, and on the file's
  // very last bytes (HDF5's final metadata writes inside H5Fclose).
  const size_t fds_before = entries("/proc/self/fd").size();
  for (rlim_t limit : {rlim_t{16} << 10, rlim_t{1} << 20, rlim_t{old_shard.size() - 1}}) {
    SCOPED_TRACE(limit);
    const std::string message = write_with_size_limit(root_, limit, 2, store);
    EXPECT_NE(message.find(shard_path), std::string::npos) << message;
    // The root cause, not whatever HDF5 tripped over after it.
    EXPECT_NE(message.find(std::strerror(EFBIG)), std::string::npos) << message;
    // No temporary left, the old files untouched and still loadable.
    EXPECT_EQ(entries(root_ + "/latest"),
              (std::vector<std::string>{"MANIFEST", "shard-00000-of-00001.h5"}));
    EXPECT_TRUE(read_bytes(shard_path) == old_shard);
    EXPECT_EQ(read_bytes(root_ + "/latest/MANIFEST"), old_manifest);
    ps::LoadedCheckpoint loaded = load("latest", ShardId{0, 1});
    EXPECT_EQ(loaded.version, 1);
    expect_same_table(old_table, loaded.store->table("t"));
  }
  // The failed files were closed, not leaked, and HDF5 still writes.
  EXPECT_EQ(entries("/proc/self/fd").size(), fds_before);
  ps::write_checkpoint(root_, "latest", 2, ShardId{0, 1}, store);
  expect_same_table(table, load("latest", ShardId{0, 1}).store->table("t"));
}

TEST_F(CheckpointTest, FailedRenameLeavesNoTemporary) {
  // The final name is taken by a non-empty directory, so the rename fails
  // after the whole file has been written.
  const std::string shard_path = file("v1", 0, 1);
  fs::create_directories(shard_path + "/blocker");
  RowStore store;
  train(store.create_table(make_spec("t", 4, Optimizer::kSgd)), test_keys(100), 1, 1);
  expect_checkpoint_error(
      [&] {
        ps::write_checkpoint(root_, "v1", 1, ShardId{0, 1}, store);
      },
      {"rename", shard_path});
  EXPECT_EQ(entries(root_ + "/v1"), (std::vector<std::string>{"shard-00000-of-00001.h5"}));
  EXPECT_TRUE(fs::is_directory(shard_path + "/blocker"));
  // Shard 0 announces nothing when its own file failed.
  EXPECT_FALSE(ps::checkpoint_exists(root_, "v1"));
}

TEST_F(CheckpointTest, OverwriteReplacesWholeCheckpoint) {
  RowStore first, second;
  train(first.create_table(make_spec("a", 4, Optimizer::kSgd)), test_keys(100), 1, 1);
  train(second.create_table(make_spec("b", 2, Optimizer::kAdam)), test_keys(50), 1, 2);
  ps::write_checkpoint(root_, "latest", 1, ShardId{0, 1}, first);
  ps::write_checkpoint(root_, "latest", 2, ShardId{0, 1}, second);
  ps::LoadedCheckpoint loaded = load("latest", ShardId{0, 1});
  EXPECT_EQ(loaded.version, 2);
  EXPECT_EQ(loaded.store->find_table("a"), nullptr);
  expect_same_table(second.table("b"), loaded.store->table("b"));
}

// ---------------------------------------------------------------------------
// Snapshot consistency

// Row-wise Adagrad with an all-ones gradient: after k updates the state is
// exactly k (mean g^2 = 1 each time) and the row is the initial row after k
// known steps. So every restored (row, state) pair can be checked: a row
// from one update and a state from another would not match.
TEST_F(CheckpointTest, SnapshotIsConsistentWhilePushesContinue) {
  constexpr int32_t kDim = 7;
  constexpr int64_t kKeys = 4096;
  const TableSpec spec = make_spec("hot", kDim, Optimizer::kRowwiseAdagrad, 42);
  RowStore store;
  RowTable& table = store.create_table(spec);

  std::atomic<bool> stop{false};
  std::atomic<int64_t> pushes{0};
  std::thread pusher([&] {
    std::mt19937_64 rng(9);
    std::uniform_int_distribution<int64_t> pick(0, kKeys - 1);
    std::vector<int64_t> keys(64);
    const std::vector<float> ones(keys.size() * kDim, 1.0f);
    while (!stop.load(std::memory_order_relaxed)) {
      for (int64_t& k : keys) k = pick(rng);
      table.push(keys.data(), static_cast<int64_t>(keys.size()), ones.data());
      pushes.fetch_add(1, std::memory_order_relaxed);
    }
  });
  while (pushes.load() < 2 * kKeys / 64) std::this_thread::yield();
  // Write until a write demonstrably overlapped pushes (on an idle machine
  // the first one does).
  int attempts = 0;
  bool overlapped = false;
  while (!overlapped && attempts < 20) {
    const int64_t before = pushes.load();
    ps::write_checkpoint(root_, "v" + std::to_string(attempts), attempts, ShardId{0, 1}, store);
    overlapped = pushes.load() > before;
    ++attempts;
  }
  stop = true;
  pusher.join();
  EXPECT_TRUE(overlapped);

  const std::string name = "v" + std::to_string(attempts - 1);
  ps::LoadedCheckpoint loaded = load(name, ShardId{0, 1});
  const RowTable& restored = loaded.store->table("hot");
  EXPECT_GT(restored.size(), kKeys / 2);
  const std::vector<float> ones(kDim, 1.0f);
  std::set<int64_t> counts;
  for (int64_t key : keys_of(restored)) {
    const std::vector<float> slot = slot_of(restored, key);
    const float state = slot[kDim];
    const int64_t k = static_cast<int64_t>(state);
    ASSERT_EQ(static_cast<float>(k), state) << "key " << key;
    ASSERT_GE(k, 1) << "key " << key;
    ASSERT_LE(k, static_cast<int64_t>(slot_of(table, key)[kDim])) << "key " << key;
    std::vector<float> expected(kDim + 1);
    ps::init_row(static_cast<uint64_t>(spec.seed), ps::table_name_hash(spec.name), key,
                 static_cast<float>(spec.init_scale), kDim, expected.data());
    ps::reset_state(spec, expected.data() + kDim);
    for (int64_t i = 0; i < k; ++i) {
      ps::apply_update(spec, expected.data(), expected.data() + kDim, ones.data());
    }
    ASSERT_TRUE(same_bits(expected, slot)) << "key " << key << " with state " << k;
    counts.insert(k);
  }
  EXPECT_GT(counts.size(), 1u);
}

}  // namespace
}  // namespace hybrec::ps::checkpoint_testing
