// Fuzzing a real `hybrec ps` process through its socket.
//
// The server is the only thing between the network and the embedding rows, so
// whatever a broken or hostile client sends (random bytes, truncated or
// oversized frames, mangled Thrift, requests the service must reject) must
// leave it serving, answering health(), and holding exactly the rows it held
// before. The main test sends a deterministic, seeded mix of more than 10,000
// such frames over many connections and then checks all of that bit for bit.
//
// Why the fuzzing can never legitimately change the real table ("items"):
//  * connections that send random or mutated bytes never send the byte 'm'
//    (0x6d); no method name of ps.thrift has one, and without it no parse of
//    the stream, however the server's framing and fields fall, yields a string
//    equal to "items";
//  * connections that do name "items" send only exact, well-formed requests the
//    service must reject whole (NaN gradients, wrong lengths, conflicting
//    specs, unknown methods, ...), reads of existing rows, or valid pushes
//    wrapped in something the server must not process at all (a reply-type
//    message, a wrong protocol version, no framing, a cut-off frame).
//
// The server's resident memory is watched throughout: above 1 GiB new
// connections wait, above 4 GiB the server is killed and the test fails (an
// unbounded allocation once got the server OOM-killed, and a test must not
// take its machine down with it). Two more tests pin the two server bugs the
// fuzzing found, each with one deterministic input.
//
// Reproduce another mix with HYBREC_FUZZ_SEED=N; HYBREC_FUZZ_FRAMES=N sends
// more frames.
//
// The pieces live in tests/ps/fuzz/: tables (setup and snapshot keys),
// wire_bytes (framing and encoding), raw_connection (the bounded socket),
// server_watch (the process, its logs and memory), probes (requests that must
// be rejected, and drops), frames (fuzz frames and mutation), tally (counts and
// failures) and connections (what the workers run).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ParameterServer.h"
#include "fuzz/connections.h"
#include "fuzz/raw_connection.h"
#include "fuzz/server_watch.h"
#include "fuzz/tables.h"
#include "fuzz/tally.h"
#include "fuzz/wire_bytes.h"
#include "parameter_server/client/client.h"
#include "parameter_server/wire/table_spec.h"
#include "parameter_server/wire/wire_convert.h"
#include "ps_process.h"

namespace hybrec::ps::fuzz {
namespace {

using hybrec::ps::testing::TempDir;

constexpr int kIdleTimeoutS = 5;
constexpr int kWorkers = 4;
constexpr int64_t kMinFrames = 10000;

// Every file under root with its size, one per line, in name order.
std::string list_files(const std::string& root) {
  std::set<std::string> lines;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::string rel = std::filesystem::relative(it->path(), root).string();
    lines.insert(rel + (it->is_regular_file() ? " " + std::to_string(it->file_size()) : "/"));
  }
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

// ---------------------------------------------------------------------------

TEST(PsFuzz, MalformedFramesLeaveTheServerServingWithItsRowsUntouched) {
  const uint64_t seed = env_u64("HYBREC_FUZZ_SEED", 20240611);
  const int64_t target =
      std::max<int64_t>(kMinFrames, static_cast<int64_t>(env_u64("HYBREC_FUZZ_FRAMES", 24000)));
  std::printf("seed %llu (HYBREC_FUZZ_SEED), at least %lld frames\n",
              static_cast<unsigned long long>(seed), static_cast<long long>(target));

  TempDir dir;
  const std::string log = dir.path() + "/server.stderr";
  // With a checkpoint dir, so that a frame that saves or loads anything
  // shows up as a side effect (finding 1: mutated frames without a version
  // once wrote ps/v0 on their own). The well-formed save/load frames name
  // only invalid run ids, which must be refused.
  const std::string checkpoints = dir.path() + "/checkpoints";
  auto server = start_server(
      log, {"--port", "0", "--max-frame-mib", std::to_string(kMaxFrameMib), "--idle-timeout-s",
            std::to_string(kIdleTimeoutS), "--checkpoint-dir", checkpoints});
  ASSERT_TRUE(server->running()) << tail(read_file(log));
  const pid_t pid = server->pid();
  ASSERT_GT(pid, 0) << "the server has no pid";
  const int port = server->port();

  // The rows to protect: 1000 keys that went through two pushes, so rows and
  // optimizer state are both non-trivial. A pull of existing keys changes nothing.
  Snapshot snap;
  snap.keys = snapshot_keys();
  {
    PsClient client({{"127.0.0.1", port}}, client_options());
    client.create_table(items_spec());
    client.create_table(fuzz_spec());
    Rng rng(seed ^ 0x5eed);
    for (int round = 0; round < 2; ++round) {
      const std::vector<float> grads = random_floats(rng, static_cast<size_t>(kNumKeys) * kDim);
      client.push(kTable, snap.keys.data(), kNumKeys, kDim, grads.data()).wait();
    }
    std::vector<float> rows(static_cast<size_t>(kNumKeys) * kDim), again(rows.size());
    client.pull(kTable, snap.keys.data(), kNumKeys, kDim, rows.data()).wait();
    client.pull(kTable, snap.keys.data(), kNumKeys, kDim, again.data()).wait();
    ASSERT_EQ(pack(rows), pack(again)) << "a pull of existing keys changed them";
    snap.rows = pack(rows);
    client.save(kRealRun, 1);
  }
  const wire::ServerStats stats_before = fetch_stats(port);
  ASSERT_EQ(rows_of(stats_before, kTable), kNumKeys);
  ASSERT_EQ(stats_before.last_checkpoint_version, 1);
  const std::string files_before = list_files(checkpoints);
  ASSERT_NE(files_before.find("runs/real/v1/MANIFEST"), std::string::npos) << files_before;
  const int64_t rss_before = vm_kib(pid, "VmRSS");
  // Every connection holds at most a frame and the strings parsed from it, a
  // few times the frame limit; far fewer than 64 are served at once here.
  constexpr int64_t kSoftCapMib = 1024, kHardCapMib = 4096;
  MemoryWatch memory(pid, kSoftCapMib, kHardCapMib);

  Tally tally;
  Failures failures;

  // Connections that send nothing, or stall inside a header or a frame, held
  // through the fuzzing; the server must drop them after --idle-timeout-s.
  const auto idle_since = Clock::now();
  std::vector<std::unique_ptr<Conn>> idle;
  for (int i = 0; i < 12; ++i) {
    idle.push_back(std::make_unique<Conn>(port));
    ++tally.connections;
    ASSERT_TRUE(idle.back()->ok()) << idle.back()->error();
    if (i >= 6) {
      idle.back()->send(i < 9 ? std::string("\0\0", 2) : be32(100) + std::string(10, 'z'), false);
    }
  }

  const auto start = Clock::now();
  std::vector<std::thread> threads;
  const int64_t quota = (target + kWorkers - 1) / kWorkers;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      Rng rng(splitmix64(seed * 64 + static_cast<uint64_t>(w)));
      int64_t sent = 0;
      int refused = 0;
      while (sent < quota && refused < 10) {  // a dead server refuses every connection
        memory.wait_below_soft_cap();
        const int n = rng() % 4 == 0 ? checked_connection(port, rng, snap, tally, failures)
                                     : fuzz_connection(port, rng, tally, failures);
        refused += n < 0;
        sent += std::max(n, 0);
      }
    });
  }
  threads.emplace_back(
      [&] { slow_connections(port, splitmix64(seed + 99), snap, tally, failures); });
  for (auto& t : threads) t.join();
  const double fuzz_s = std::chrono::duration<double>(Clock::now() - start).count();

  std::printf("fuzzing took %.1f s over %lld connections:\n", fuzz_s,
              static_cast<long long>(tally.connections.load()));
  for (int k = 0; k < kNumKinds; ++k) {
    std::printf("  %7lld  %s\n", static_cast<long long>(tally.frames[k].load()), kKindNames[k]);
  }
  std::printf("  %7lld  total frames\n", static_cast<long long>(tally.total()));
  std::printf(
      "replies checked %lld, drops checked %lld; fuzz connections ended by half-close "
      "%lld, close %lld, reset %lld\n",
      static_cast<long long>(tally.replies_checked.load()),
      static_cast<long long>(tally.drops_checked.load()),
      static_cast<long long>(tally.drained.load()),
      static_cast<long long>(tally.closed_early.load()),
      static_cast<long long>(tally.reset.load()));
  std::printf("server RSS: %lld MiB before fuzzing, peak %lld MiB; above %lld MiB %lld times\n",
              static_cast<long long>(rss_before >> 10), static_cast<long long>(memory.peak_mib()),
              static_cast<long long>(kSoftCapMib), static_cast<long long>(memory.episodes()));
  ASSERT_FALSE(memory.killed()) << "the server's resident memory passed " << kHardCapMib
                                << " MiB and the test killed it to protect the machine (see "
                                << "ATinyFrameCannotMakeTheServerAllocateBeyondTheFrameLimit)";
  EXPECT_LT(memory.peak_mib(), kSoftCapMib)
      << "the server's resident memory peaked at " << memory.peak_mib()
      << " MiB under fuzzing (see ATinyFrameCannotMakeTheServerAllocateBeyondTheFrameLimit)";

  EXPECT_GE(tally.total(), kMinFrames);
  EXPECT_EQ(failures.count(), 0) << "first failures:\n" << failures.describe();
  const std::string ended = exit_of(pid);
  ASSERT_EQ(ended, "") << "the server died during fuzzing; its stderr:\n" << tail(read_file(log));

  // The idle and stalled connections must be gone by now.
  std::this_thread::sleep_until(idle_since + std::chrono::seconds(kIdleTimeoutS + 2));
  for (size_t i = 0; i < idle.size(); ++i) {
    EXPECT_EQ(idle[i]->drain(3000), Conn::Read::kClosed)
        << "idle connection " << i << " was still open " << kIdleTimeoutS + 2
        << " s after it last sent anything";
  }
  idle.clear();

  // Serving, with every row bit for bit as before.
  {
    PsClient client({{"127.0.0.1", port}}, client_options());
    const std::vector<ShardHealth> health = client.health();
    ASSERT_EQ(health.size(), 1u);
    EXPECT_TRUE(health[0].reachable) << health[0].error;
    EXPECT_EQ(health[0].shard_index, 0);
    EXPECT_EQ(health[0].num_shards, 1);
    EXPECT_EQ(health[0].wire_version, 3);
    EXPECT_EQ(health[0].incarnation, stats_before.incarnation) << "the server restarted";

    std::vector<float> rows(static_cast<size_t>(kNumKeys) * kDim);
    client.pull(kTable, snap.keys.data(), kNumKeys, kDim, rows.data()).wait();
    const std::string after = pack(rows);
    int changed = 0;
    int first = -1;
    for (int i = 0; i < kNumKeys; ++i) {
      if (std::memcmp(after.data() + i * kDim * 4, snap.rows.data() + i * kDim * 4, kDim * 4)) {
        if (changed++ == 0) first = i;
      }
    }
    EXPECT_EQ(changed, 0) << changed << " rows changed, the first of key " << snap.keys[first];

    // No side effect beyond the counters: the snapshots on disk are the one
    // saved before the fuzzing, byte for byte in size, and the server still
    // reports that version.
    const wire::ServerStats stats = fetch_stats(port);
    EXPECT_EQ(rows_of(stats, kTable), kNumKeys);
    EXPECT_EQ(list_files(checkpoints), files_before) << "the fuzzing wrote or deleted snapshots";
    EXPECT_EQ(stats.last_checkpoint_version, 1) << "the fuzzing saved or loaded a version";
    EXPECT_EQ(stats.incarnation, stats_before.incarnation);
    std::printf("server counters: %lld pulls, %lld pushes, %lld rejected requests, %zu tables\n",
                static_cast<long long>(stats.pull_requests),
                static_cast<long long>(stats.push_requests),
                static_cast<long long>(stats.rejected_requests), stats.tables.size());

    // And it still learns: a push to fresh keys moves their rows against the
    // gradient (all +1, so every value must drop).
    const std::set<int64_t> taken(snap.keys.begin(), snap.keys.end());
    std::vector<int64_t> fresh;
    for (int64_t k = 0x5a5a000000000000LL; fresh.size() < 100; ++k) {
      if (!taken.count(k)) fresh.push_back(k);
    }
    const int64_t n = static_cast<int64_t>(fresh.size());
    std::vector<float> r0(static_cast<size_t>(n) * kDim), r1(r0.size());
    const std::vector<float> ones(r0.size(), 1.0f);
    client.pull(kTable, fresh.data(), n, kDim, r0.data()).wait();
    client.push(kTable, fresh.data(), n, kDim, ones.data()).wait();
    client.pull(kTable, fresh.data(), n, kDim, r1.data()).wait();
    int moved = 0;
    for (size_t i = 0; i < r0.size(); ++i) moved += std::isfinite(r1[i]) && r1[i] < r0[i];
    EXPECT_EQ(moved, static_cast<int>(r0.size())) << "a normal push did not apply";
    EXPECT_EQ(rows_of(fetch_stats(port), kTable), kNumKeys + n);
  }

  // Graceful shutdown, with one idle connection open: stop() must wake it
  // rather than wait out its idle timeout.
  Conn idle_at_stop(port);
  ASSERT_TRUE(idle_at_stop.ok()) << idle_at_stop.error();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // accepted by now
  const auto stop_start = Clock::now();
  server->signal(SIGTERM);
  const bool exited = wait_for_exit(pid, 30);
  memory.stop();  // before the pid is reaped and could be reused
  if (!exited) {
    server->signal(SIGKILL);
    server->wait();
    FAIL() << "the server did not exit within 30 s of SIGTERM; its stderr:\n"
           << tail(read_file(log));
  }
  const double stop_s = std::chrono::duration<double>(Clock::now() - stop_start).count();
  std::printf("SIGTERM to exit: %.2f s\n", stop_s);
  EXPECT_EQ(server->wait(), 0) << tail(read_file(log));
  EXPECT_LT(stop_s, kIdleTimeoutS - 1.0) << "shutdown waited for the idle connection";
  check_server_log(log);
}

// Regression test for a fuzz finding. A string's length prefix is trusted
// before its bytes arrive: TBinaryProtocol::readStringBody (Thrift 0.17)
// checks it only against the protocol's string limit, which PsServer leaves
// at 0 (unlimited), then resizes the string to that length (zero-filling it)
// and waits for the bytes on following frames. A 25-byte frame can so make
// the server commit up to 2 GiB per connection, --threads connections at once.
TEST(PsFuzz, ATinyFrameCannotMakeTheServerAllocateBeyondTheFrameLimit) {
  TempDir dir;
  const std::string log = dir.path() + "/server.stderr";
  auto server = start_server(log, {"--port", "0", "--max-frame-mib", std::to_string(kMaxFrameMib),
                                   "--idle-timeout-s", std::to_string(kIdleTimeoutS)});
  ASSERT_TRUE(server->running()) << tail(read_file(log));
  const pid_t pid = server->pid();
  ASSERT_GT(pid, 0);
  const int64_t rss_before = vm_kib(pid, "VmRSS");

  // pull(table: <a string announced as 256 MiB>) and nothing more.
  constexpr uint32_t kAnnounced = 256u << 20;
  const std::string message =
      strict_message(0x80010001u, "pull", std::string("\x0b\x00\x01", 3) + be32(kAnnounced));
  Conn c(server->port());
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_TRUE(c.send(framed(message), false));
  // Give the server time to act on it (it then waits for the next frame).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const int64_t peak = vm_kib(pid, "VmHWM");
  c.reset();
  EXPECT_LT(peak - rss_before, int64_t{64} << 10)
      << "a " << message.size() + 4 << "-byte frame raised the server's resident memory by "
      << (peak - rss_before) / 1024 << " MiB (the frame limit is " << kMaxFrameMib
      << " MiB): the protocol's string limit should be the frame limit";

  PsClient client({{"127.0.0.1", server->port()}}, client_options());
  EXPECT_TRUE(client.health()[0].reachable);
  server->signal(SIGTERM);
  if (!wait_for_exit(pid, 30)) server->signal(SIGKILL);
  EXPECT_EQ(server->wait(), 0);
  check_server_log(log);
}

// Regression test for a fuzz finding. --idle-timeout-s sets only the receive
// timeout of accepted sockets (TServerSocket::setRecvTimeout in PsServer), so a
// client that sends requests but never reads the replies leaves its server
// thread blocked in send() for good: it holds one of the --threads slots
// forever and SIGTERM's drain waits for it.
TEST(PsFuzz, AClientThatStopsReadingRepliesCannotHoldAConnectionForever) {
  constexpr int kShortIdleS = 2;
  TempDir dir;
  const std::string log = dir.path() + "/server.stderr";
  // One connection at a time, so a held connection locks everyone out.
  auto server =
      start_server(log, {"--port", "0", "--max-frame-mib", std::to_string(kMaxFrameMib),
                         "--idle-timeout-s", std::to_string(kShortIdleS), "--threads", "1"});
  ASSERT_TRUE(server->running()) << tail(read_file(log));
  const pid_t pid = server->pid();
  ASSERT_GT(pid, 0);
  const int port = server->port();

  TableSpec wide = fuzz_spec();
  wide.dim = 1024;
  std::string reply;
  {
    Conn c(port);
    ASSERT_TRUE(c.ok()) << c.error();
    ASSERT_TRUE(
        c.send(framed(encode([&](auto& cl) { cl.send_create_table(to_wire(wide)); })), false));
    ASSERT_EQ(c.read_frame(&reply, 10000), Conn::Read::kData);
  }

  // 1 MiB replies, requested until the socket buffers are full, never read.
  std::vector<int64_t> keys(256);
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<int64_t>(i);
  const std::string pull = framed(
      encode([&](auto& cl) { cl.send_pull(kFuzzTable, pack(keys), wire::PullMode::TRAIN); }));
  Conn greedy(port);
  ASSERT_TRUE(greedy.ok()) << greedy.error();
  int requests = 0;
  while (requests < 400 && greedy.send(pull, false, 1000)) ++requests;
  std::printf("%d pulls of 1 MiB rows sent without reading a reply\n", requests);

  // Well past the idle timeout: the server must have given up on that client.
  std::this_thread::sleep_for(std::chrono::seconds(kShortIdleS + 2));
  {
    Conn c(port);
    ASSERT_TRUE(c.ok()) << c.error();
    ASSERT_TRUE(c.send(framed(encode([](auto& cl) { cl.send_health(); })), false));
    const Conn::Read r = c.read_frame(&reply, 5000);
    EXPECT_EQ(r, Conn::Read::kData)
        << "health() got no reply (" << read_name(r) << ") " << kShortIdleS + 2
        << " s after a client stopped reading: that client still holds the only connection slot";
  }

  // Graceful shutdown, with the client still not reading.
  server->signal(SIGTERM);
  const bool exited = wait_for_exit(pid, kShortIdleS + 8);
  EXPECT_TRUE(exited) << "SIGTERM did not stop the server while a client was not reading";
  greedy.reset();  // lets a stuck server finish
  if (!wait_for_exit(pid, 30)) server->signal(SIGKILL);
  EXPECT_EQ(server->wait(), 0);
  check_server_log(log);
}

}  // namespace
}  // namespace hybrec::ps::fuzz
