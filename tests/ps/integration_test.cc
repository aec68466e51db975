// The parameter server as deployed: real `hybrec ps` processes on loopback,
// several shards, several concurrent clients, checkpoints, resharding,
// kill -9 and restart, and the operator CLI.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "parameter_server/client/client.h"
#include "parameter_server/wire/errors.h"
#include "ps_process.h"

namespace hybrec::ps {
namespace {

using testing::PsProcess;
using testing::TempDir;

struct Cluster {
  std::vector<std::unique_ptr<PsProcess>> shards;
  std::string addresses() const {
    std::string out;
    for (const auto& s : shards) out += (out.empty() ? "" : ",") + s->address();
    return out;
  }
};

// Starts `count` shards; extra args go to every shard, ports are chosen by
// the servers unless `ports` fixes them.
Cluster start_cluster(int count, const std::vector<std::string>& extra,
                      const std::vector<int>& ports = {}) {
  Cluster c;
  for (int i = 0; i < count; ++i) {
    std::vector<std::string> args = {"--port", ports.empty() ? "0" : std::to_string(ports[i]),
                                     "--shard", std::to_string(i) + "/" + std::to_string(count)};
    args.insert(args.end(), extra.begin(), extra.end());
    c.shards.push_back(std::make_unique<PsProcess>(args));
  }
  return c;
}

TableSpec table_spec(const std::string& name, int dim, Optimizer optimizer) {
  return testing::test_spec(name, dim, optimizer, 11);
}

std::vector<int64_t> key_range(int64_t first, int64_t n) {
  std::vector<int64_t> keys(n);
  for (int64_t i = 0; i < n; ++i) keys[i] = first + i * 31;
  return keys;
}

std::vector<float> pull_all(PsClient& client, const std::string& table,
                            const std::vector<int64_t>& keys, int dim) {
  std::vector<float> rows(keys.size() * dim);
  client.pull(table, keys.data(), static_cast<int64_t>(keys.size()), dim, rows.data()).wait();
  return rows;
}

std::string run_command(const std::string& command, int* status) {
  std::string out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  char buf[512];
  while (pipe && fgets(buf, sizeof(buf), pipe)) out += buf;
  const int raw = pipe ? pclose(pipe) : -1;
  *status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return out;
}

TEST(PsIntegration, ConcurrentClientsPushingSgdGradientsEndAtTheSequentialResult) {
  Cluster cluster = start_cluster(4, {});
  const int dim = 8, clients = 4, rounds = 20;
  const auto keys = key_range(-500, 600);
  const int64_t n = static_cast<int64_t>(keys.size());
  {
    PsClient setup(parse_endpoints(cluster.addresses()));
    setup.create_table(table_spec("items", dim, Optimizer::kSgd));
    // Integer starting rows and lr 0.5 with integer gradients keep every
    // partial sum exact, so any interleaving must give the same floats.
    std::vector<float> start(n * dim);
    for (int64_t i = 0; i < n * dim; ++i) start[i] = static_cast<float>(i % 17);
    setup.assign("items", keys.data(), n, dim, start.data()).wait();
  }
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      PsClient client(parse_endpoints(cluster.addresses()));
      // Each client pushes overlapping halves, repeating some keys within a
      // request (the client sums those before sending).
      std::vector<int64_t> mine(keys.begin() + c * 100, keys.begin() + c * 100 + 300);
      mine.insert(mine.end(), mine.begin(), mine.begin() + 10);
      std::vector<float> grads(mine.size() * dim, static_cast<float>(c + 1));
      std::vector<float> scratch(mine.size() * dim);
      for (int r = 0; r < rounds; ++r) {
        auto push = client.push("items", mine.data(), mine.size(), dim, grads.data());
        push.wait();
        client.pull("items", mine.data(), mine.size(), dim, scratch.data()).wait();
      }
    });
  }
  for (auto& t : threads) t.join();

  PsClient check(parse_endpoints(cluster.addresses()));
  const auto rows = pull_all(check, "items", keys, dim);
  for (int64_t i = 0; i < n; ++i) {
    double total_grad = 0;
    for (int c = 0; c < clients; ++c) {
      const int64_t lo = c * 100, hi = c * 100 + 300;
      if (i >= lo && i < hi) total_grad += (c + 1) * rounds * (i < lo + 10 ? 2 : 1);
    }
    for (int j = 0; j < dim; ++j) {
      const float expected = static_cast<float>((i * dim + j) % 17 - 0.5 * total_grad);
      ASSERT_EQ(rows[i * dim + j], expected) << "key " << keys[i] << " element " << j;
    }
  }
}

TEST(PsIntegration, DuplicateKeysArePulledOnceAndReturnedAtEveryPosition) {
  Cluster cluster = start_cluster(2, {});
  PsClient client(parse_endpoints(cluster.addresses()));
  client.create_table(table_spec("t", 4, Optimizer::kRowwiseAdagrad));
  const std::vector<int64_t> keys = {9, 4, 9, 9, 100, 4};
  const auto rows = pull_all(client, "t", keys, 4);
  for (int j = 0; j < 4; ++j) {
    EXPECT_EQ(rows[0 * 4 + j], rows[2 * 4 + j]);
    EXPECT_EQ(rows[0 * 4 + j], rows[3 * 4 + j]);
    EXPECT_EQ(rows[1 * 4 + j], rows[5 * 4 + j]);
  }
  EXPECT_NE(rows[0], rows[4]);
}

TEST(PsIntegration, KeysLiveOnTheShardTheSlicerNamesAndPullsComeBackAsynchronously) {
  Cluster cluster = start_cluster(2, {});
  PsClient client(parse_endpoints(cluster.addresses()));
  client.create_table(table_spec("t", 16, Optimizer::kSgd));
  const auto keys = key_range(1, 3001);
  std::vector<float> rows(keys.size() * 16);
  PsClient::Request pending = client.pull("t", keys.data(), keys.size(), 16, rows.data());
  for (int i = 0; i < 2000 && !pending.ready(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(pending.ready());
  pending.wait();
  EXPECT_EQ(rows, pull_all(client, "t", keys, 16));
  // Each shard stores exactly the keys the client's slicer routes to it.
  std::vector<size_t> expected(2, 0);
  for (int64_t k : keys) ++expected[client.slicer().shard_of(k)];
  const auto stats = client.stats();
  ASSERT_EQ(stats.size(), 2u);
  for (int s = 0; s < 2; ++s) {
    EXPECT_NE(stats[s].find(": " + std::to_string(expected[s]) + " rows,"), std::string::npos)
        << "shard " << s << " expected " << expected[s] << " rows: " << stats[s];
  }
}

TEST(PsIntegration, SaveThenLoadRestoresEveryShard) {
  TempDir dir;
  Cluster cluster = start_cluster(2, {"--checkpoint-dir", dir.path()});
  PsClient client(parse_endpoints(cluster.addresses()));
  const int dim = 16;
  client.create_table(table_spec("users", dim, Optimizer::kAdam));
  const auto keys = key_range(0, 2000);
  std::vector<float> grads(keys.size() * dim, 0.01f);
  client.push("users", keys.data(), keys.size(), dim, grads.data()).wait();
  const auto saved = pull_all(client, "users", keys, dim);
  client.save("it", 4);
  client.push("users", keys.data(), keys.size(), dim, grads.data()).wait();
  const auto after_second_push = pull_all(client, "users", keys, dim);
  ASSERT_NE(after_second_push, saved);
  client.load("it", 4);
  EXPECT_EQ(pull_all(client, "users", keys, dim), saved);
  // Adam's moments and per-row steps came back too.
  client.push("users", keys.data(), keys.size(), dim, grads.data()).wait();
  EXPECT_EQ(pull_all(client, "users", keys, dim), after_second_push);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/runs/it/v4/MANIFEST"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/runs/it/v4/shard-00001-of-00002.h5"));
}

// Writes a checkpoint with `from` shards, loads it into `to` shards, and
// checks every row (and, through a further push, every optimizer state).
void expect_reshard_keeps_everything(int from, int to) {
  TempDir dir;
  const int dim = 8;
  const auto keys = key_range(-3000, 5000);
  std::vector<float> grads(keys.size() * dim);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = 0.001f * static_cast<float>(i % 7);
  std::vector<float> saved, pushed_again;
  {
    Cluster before = start_cluster(from, {"--checkpoint-dir", dir.path()});
    PsClient client(parse_endpoints(before.addresses()));
    client.create_table(table_spec("items", dim, Optimizer::kRowwiseAdagrad));
    client.push("items", keys.data(), keys.size(), dim, grads.data()).wait();
    saved = pull_all(client, "items", keys, dim);
    client.save("it", 1);
    client.push("items", keys.data(), keys.size(), dim, grads.data()).wait();
    pushed_again = pull_all(client, "items", keys, dim);
  }
  Cluster after = start_cluster(to, {"--checkpoint-dir", dir.path()});
  PsClient client(parse_endpoints(after.addresses()));
  client.load("it", 1);
  EXPECT_EQ(pull_all(client, "items", keys, dim), saved) << from << " -> " << to;
  client.push("items", keys.data(), keys.size(), dim, grads.data()).wait();
  EXPECT_EQ(pull_all(client, "items", keys, dim), pushed_again) << from << " -> " << to;
  // Each key lives only on its new owner: the row counts add up.
  size_t rows = 0;
  for (const std::string& s : client.stats()) {
    const size_t at = s.find(" rows,");
    ASSERT_NE(at, std::string::npos) << s;
    rows += std::stoul(s.substr(s.rfind(' ', at - 1) + 1));
  }
  EXPECT_EQ(rows, keys.size());
}

TEST(PsIntegration, ReshardTwoShardsIntoThree) { expect_reshard_keeps_everything(2, 3); }
TEST(PsIntegration, ReshardThreeShardsIntoTwo) { expect_reshard_keeps_everything(3, 2); }

// Finding 2 of the integrity review: a shard killed with -9 and restarted
// from its periodic `latest` went unnoticed, and the client carried on
// against rows up to one interval old. The client must now refuse to
// continue, naming the shard and the restart; accept_restarts() (what a
// rewinding trainer calls) lets it carry on.
TEST(PsIntegration, KilledShardRestartsFromItsLastCheckpointAndClientsNoticeTheRestart) {
  TempDir dir;
  const std::vector<int> ports = {testing::free_port(), testing::free_port()};
  const std::vector<std::string> args = {"--checkpoint-dir", dir.path(), "--checkpoint-every",
                                         "0.2"};
  Cluster cluster = start_cluster(2, args, ports);
  ClientOptions options;
  options.max_attempts = 8;
  options.backoff_initial_ms = 50;
  PsClient client(parse_endpoints(cluster.addresses()), options);
  const int dim = 8;
  client.create_table(table_spec("items", dim, Optimizer::kRowwiseAdagrad));
  const auto keys = key_range(7, 3000);
  std::vector<float> grads(keys.size() * dim, 0.5f);
  client.push("items", keys.data(), keys.size(), dim, grads.data()).wait();
  const auto checkpointed = pull_all(client, "items", keys, dim);

  // Wait for a periodic checkpoint that started after the push.
  const std::string file = dir.path() + "/latest/shard-00001-of-00002.h5";
  const auto pushed_at = std::filesystem::file_time_type::clock::now();
  for (int i = 0; i < 100; ++i) {
    std::error_code ec;
    if (std::filesystem::last_write_time(file, ec) > pushed_at + std::chrono::milliseconds(10))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // One more interval so the file written is complete from a snapshot after the push.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  cluster.shards[1]->signal(SIGKILL);
  EXPECT_EQ(cluster.shards[1]->wait(), 128 + SIGKILL);

  // While it is down, the client names the shard and its address.
  ClientOptions quick;
  quick.max_attempts = 2;
  quick.backoff_initial_ms = 10;
  PsClient impatient(parse_endpoints(cluster.addresses()), quick);
  std::vector<float> scratch(keys.size() * dim);
  try {
    impatient.pull("items", keys.data(), keys.size(), dim, scratch.data()).wait();
    ADD_FAILURE() << "pull succeeded with shard 1 down";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("shard 1 at 127.0.0.1:" + std::to_string(ports[1])), std::string::npos)
        << what;
    EXPECT_NE(what.find("unreachable after 2 attempts"), std::string::npos) << what;
  }

  cluster.shards[1] = std::make_unique<PsProcess>(std::vector<std::string>{
      "--port", std::to_string(ports[1]), "--shard", "1/2", "--checkpoint-dir", dir.path()});
  ASSERT_TRUE(cluster.shards[1]->running());
  EXPECT_NE(cluster.shards[1]->banner().find("restored"), std::string::npos)
      << cluster.shards[1]->banner();
  // The original client reconnects, sees another incarnation, and refuses.
  std::vector<float> rows(keys.size() * dim);
  try {
    client.pull("items", keys.data(), keys.size(), dim, rows.data()).wait();
    ADD_FAILURE() << "the pull carried on against a restarted shard";
  } catch (const ShardRestartedError& e) {
    EXPECT_EQ(e.shard(), 1);
    EXPECT_NE(e.before(), e.after());
    const std::string what = e.what();
    EXPECT_NE(what.find("shard 1 at 127.0.0.1:" + std::to_string(ports[1])), std::string::npos)
        << what;
    EXPECT_NE(what.find("restarted"), std::string::npos) << what;
  }
  // A push to the shard is refused the same way: it would go to rows the
  // shard rolled back.
  std::vector<int64_t> on_shard1;
  for (int64_t k : keys) {
    if (JumpHashSlicer(2).shard_of(k) == 1) on_shard1.push_back(k);
  }
  EXPECT_THROW(client.push("items", on_shard1.data(), on_shard1.size(), dim, grads.data()).wait(),
               ShardRestartedError);
  // Having been told, the caller may adopt the new incarnation; the shard
  // then serves the rows of its last checkpoint.
  client.accept_restarts();
  EXPECT_EQ(pull_all(client, "items", keys, dim), checkpointed);
  // A new client has nothing to compare against and just works.
  PsClient fresh(parse_endpoints(cluster.addresses()), options);
  EXPECT_EQ(pull_all(fresh, "items", keys, dim), checkpointed);
}

TEST(PsIntegration, SigtermLosesNoAcknowledgedPushAndWritesTheFinalCheckpoint) {
  TempDir dir;
  const int port = testing::free_port();
  auto shard = std::make_unique<PsProcess>(
      std::vector<std::string>{"--port", std::to_string(port), "--checkpoint-dir", dir.path()});
  const int dim = 32;
  const auto keys = key_range(0, 20000);
  const TableSpec spec = table_spec("items", dim, Optimizer::kSgd);
  int acknowledged = 0;
  {
    // Pushes keep coming while the signal arrives; with one attempt each, a
    // push either is acknowledged or fails. Every acknowledged push must be
    // in the final checkpoint.
    ClientOptions once;
    once.max_attempts = 1;
    PsClient client(parse_endpoints(shard->address()), once);
    client.create_table(spec);
    std::vector<float> grads(keys.size() * dim, 1.0f);
    std::thread terminator([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      shard->signal(SIGTERM);
    });
    try {
      for (;;) {
        client.push("items", keys.data(), keys.size(), dim, grads.data()).wait();
        ++acknowledged;
      }
    } catch (const Error&) {
    }
    terminator.join();
    EXPECT_EQ(shard->wait(), 0);
  }
  ASSERT_GT(acknowledged, 0);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/latest/shard-00000-of-00001.h5"));
  shard = std::make_unique<PsProcess>(
      std::vector<std::string>{"--port", std::to_string(port), "--checkpoint-dir", dir.path()});
  PsClient client(parse_endpoints(shard->address()));
  const auto rows = pull_all(client, "items", keys, dim);
  // The generator's rows, from a fresh shard of the same spec.
  auto other = start_cluster(1, {});
  PsClient reference(parse_endpoints(other.addresses()));
  reference.create_table(spec);
  const auto fresh = pull_all(reference, "items", keys, dim);
  for (size_t i = 0; i < rows.size(); i += 101) {
    float expected = fresh[i];
    for (int k = 0; k < acknowledged; ++k) expected -= 0.5f;  // the server's order of rounding
    ASSERT_EQ(rows[i], expected) << "element " << i << " after " << acknowledged << " pushes";
  }
}

TEST(PsIntegration, TypedServerErrorsReachTheClientWithTheShard) {
  Cluster cluster = start_cluster(2, {});
  PsClient client(parse_endpoints(cluster.addresses()));
  client.create_table(table_spec("items", 4, Optimizer::kSgd));
  std::vector<int64_t> keys = {1, 2, 3, 4, 5, 6};
  std::vector<float> out(keys.size() * 8);
  try {
    client.pull("missing", keys.data(), keys.size(), 4, out.data()).wait();
    ADD_FAILURE() << "unknown table accepted";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnknownTable);
    EXPECT_NE(std::string(e.what()).find("'missing'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("parameter server shard"), std::string::npos) << e.what();
  }
  std::vector<float> grads(keys.size() * 8, 1.0f);
  try {
    client.push("items", keys.data(), keys.size(), 8, grads.data()).wait();
    ADD_FAILURE() << "dim 8 push into a dim 4 table accepted";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDimMismatch);
  }
  // Addresses in the wrong order would route keys to the wrong shard.
  PsClient swapped(
      parse_endpoints(cluster.shards[1]->address() + "," + cluster.shards[0]->address()));
  EXPECT_THROW(swapped.pull("items", keys.data(), keys.size(), 4, out.data()).wait(), Error);
  // And the cluster still serves.
  client.pull("items", keys.data(), keys.size(), 4, out.data()).wait();
}

TEST(PsIntegration, OperatorCliReportsHealthStatsAndSaves) {
  TempDir dir;
  Cluster cluster = start_cluster(2, {"--checkpoint-dir", dir.path()});
  const std::string ctl = std::string(HYBREC_BIN) + " ps-ctl --ps " + cluster.addresses();
  int status = 0;
  std::string out = run_command(ctl + " health", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("serving shard 1/2"), std::string::npos) << out;
  {
    PsClient client(parse_endpoints(cluster.addresses()));
    client.create_table(table_spec("items", 4, Optimizer::kSgd));
  }
  out = run_command(ctl + " stats", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("table items(dim=4, sgd"), std::string::npos) << out;
  out = run_command(ctl + " save 12", &status);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("--run"), std::string::npos) << out;
  out = run_command(ctl + " --run ops save 12", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/runs/ops/v12/shard-00000-of-00002.h5"));
  out = run_command(ctl + " --run ops load 13", &status);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("v13"), std::string::npos) << out;
  out = run_command(ctl + " frobnicate", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("unknown command 'frobnicate'"), std::string::npos) << out;
  // A shard down: health says which, exit status 1.
  cluster.shards[1]->signal(SIGKILL);
  cluster.shards[1]->wait();
  out = run_command(ctl + " health", &status);
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find(cluster.shards[1]->address() + ": DOWN"), std::string::npos) << out;
}

// The operator CLI against shards that require a token: it works with the
// token file, and without it names what the server wants.
TEST(PsIntegration, OperatorCliAuthenticatesWithTheTokenFile) {
  TempDir dir;
  const std::string token = dir.path() + "/token";
  {
    std::ofstream(token) << "0123456789abcdef0123456789abcdef\n";
  }
  std::filesystem::permissions(token, std::filesystem::perms::owner_read |
                                          std::filesystem::perms::owner_write);
  Cluster cluster =
      start_cluster(2, {"--checkpoint-dir", dir.path(), "--auth-token-file", token});
  const std::string ctl = std::string(HYBREC_BIN) + " ps-ctl --ps " + cluster.addresses();
  int status = 0;
  std::string out = run_command(ctl + " --auth-token-file " + token + " stats", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("shard 1/2"), std::string::npos) << out;
  out = run_command(ctl + " --auth-token-file " + token + " --run ops save 2", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/runs/ops/v2/MANIFEST")) << out;
  out = run_command(ctl + " --run ops save 3", &status);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("requires token authentication"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/runs/ops/v3")) << "an unauthenticated save ran";
}

TEST(PsIntegration, BadServerArgumentsExitNonZeroNamingTheProblem) {
  int status = 0;
  std::string out = run_command(std::string(HYBREC_BIN) + " ps --port 0 --shard 3/2", &status);
  EXPECT_EQ(status, 1);
  EXPECT_NE(out.find("index 3 out of range [0, 2)"), std::string::npos) << out;
  out = run_command(std::string(HYBREC_BIN) + " ps --shard 0/1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("--port is required"), std::string::npos) << out;
  out = run_command(std::string(HYBREC_BIN) + " ps --port 0 --checkpoint-every 5", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("needs --checkpoint-dir"), std::string::npos) << out;
  PsProcess first({"--port", "0"});
  out =
      run_command(std::string(HYBREC_BIN) + " ps --port " + std::to_string(first.port()), &status);
  EXPECT_EQ(status, 1);
  EXPECT_NE(out.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace hybrec::ps
