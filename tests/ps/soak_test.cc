// Soak of the parameter server under kill -9: two real `hybrec ps` shards
// checkpointing every 0.3 s, eight concurrent SGD clients, and a killer that
// SIGKILLs a shard at random moments and restarts it on the same port from
// its `latest` snapshot. The invariant: an acknowledged push is never lost
// silently. It is either in the shard's rows, or the client was told that it
// may be gone (ShardRestartedError, or a call that failed after its retries).
//
// Each client owns keys on both shards and pushes a gradient of exactly 1 to
// every element of all of them (SGD, learning rate 1, rows initialised to 0),
// so every row is an integer, exact in float, equal in all its elements, and
// known to the client: after each acknowledged push its expected value drops
// by 1. After every push the client pulls its rows back and requires them to
// equal what it expects; a pull that succeeds with other values is a silent
// loss. After any failed call it cannot know what survived: it adopts the new
// incarnations (accept_restarts), pulls again ("re-baselines"), and checks
// what it can: a shard whose incarnation did not change lost nothing (its
// rows are the expected ones, or one step further when the failed call was
// a push that may have landed); a restarted shard never holds more updates
// than were sent; no row is torn. At the end, after a calm period without
// kills, every client's rows must equal its expected values, through its own
// client, through a fresh one, and after a SIGTERM and restart of both shards.
//
// HYBREC_SOAK_S (default 40) sets how long the killer runs, HYBREC_SOAK_SEED
// its schedule.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "parameter_server/client/client.h"
#include "parameter_server/wire/errors.h"
#include "parameter_server/wire/slicer.h"
#include "ps_process.h"

namespace hybrec::ps {
namespace {

using testing::PsProcess;
using testing::TempDir;
using Clock = std::chrono::steady_clock;

constexpr int kShards = 2;
constexpr int kClients = 8;
constexpr int kKeysPerShard = 4;  // per client
constexpr int kDim = 8;
constexpr double kCalmS = 2.0;         // pushes go on this long after the last restart
constexpr double kRebaselineS = 30.0;  // a client gives up re-baselining after this
const char kTable[] = "soak";

double env_double(const char* name, double fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtod(v, nullptr) : fallback;
}

TableSpec soak_spec() {
  TableSpec s;
  s.name = kTable;
  s.dim = kDim;
  s.optimizer = Optimizer::kSgd;
  s.learning_rate = 1.0;  // row -= grad: integer rows, exact in float
  s.init_scale = 0.0;     // every row starts at 0 in every element
  s.seed = 5;
  return s;
}

// Short retries. An impatient client (3 tries over ~60 ms) gives up while a
// killed shard is down, and learns of the kill as a failed call; a patient
// one (10 tries over ~1.3 s) outlasts the restart and meets the new
// incarnation (ShardRestartedError).
ClientOptions quick_retries(bool patient = false) {
  ClientOptions o;
  o.connect_timeout_ms = 1000;
  // Long: a SIGKILLed shard resets its connections at once, so a timeout
  // would only come from a live, loaded shard, whose push might then still
  // land after the client gave up on it.
  o.io_timeout_ms = 20000;
  o.max_attempts = patient ? 10 : 3;
  o.backoff_initial_ms = 20;
  o.backoff_max_ms = patient ? 200 : 100;
  return o;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// What the clients saw, summed over all of them.
struct Tally {
  std::atomic<int64_t> pushes_acked{0}, push_failures{0}, pulls_verified{0}, pull_failures{0};
  std::atomic<int64_t> restart_errors{0}, exhausted_errors{0}, restarts_adopted{0};
  // Per shard that a failed push reached: it landed there after all. Per
  // restarted shard: acknowledged pushes that its restored rows lack.
  std::atomic<int64_t> rebaselines{0}, pushes_found_landed{0}, acked_pushes_lost{0};
};

// Set on the first broken invariant: everyone stops, so the report is the
// first thing that went wrong.
std::atomic<bool> g_violated{false};

class SoakClient {
 public:
  SoakClient(int id, const std::vector<Endpoint>& endpoints, Tally* tally)
      : id_(id), client_(endpoints, quick_retries(id % 2 == 0)), tally_(tally) {
    // kKeysPerShard keys on each shard, disjoint from every other client's.
    const JumpHashSlicer slicer(kShards);
    int on_shard[kShards] = {};
    for (int64_t k = 1000003 * (id + 1); static_cast<int>(keys_.size()) < kShards * kKeysPerShard;
         ++k) {
      const int s = slicer.shard_of(k);
      if (on_shard[s] == kKeysPerShard) continue;
      ++on_shard[s];
      keys_.push_back(k);
      shard_.push_back(s);
    }
    expected_.assign(keys_.size(), 0.0f);
    known_incarnation_.assign(kShards, 0);
  }

  // Pushes and verifies until stop; re-baselines after every failure.
  void run(const std::atomic<bool>& stop) {
    const int64_t n = static_cast<int64_t>(keys_.size());
    const std::vector<float> ones(n * kDim, 1.0f);
    std::vector<float> rows(n * kDim);
    rebaseline(false, "the first pull");
    while (!stop && !g_violated) {
      try {
        client_.push(kTable, keys_.data(), n, kDim, ones.data()).wait();
        for (float& e : expected_) e -= 1.0f;
        ++tally_->pushes_acked;
        ++acked_since_baseline_;
      } catch (const Error& e) {
        ++tally_->push_failures;
        reported(e);
        rebaseline(true, e.what());
        continue;
      }
      try {
        client_.pull(kTable, keys_.data(), n, kDim, rows.data()).wait();
      } catch (const Error& e) {
        ++tally_->pull_failures;
        reported(e);
        rebaseline(false, e.what());
        continue;
      }
      ++tally_->pulls_verified;
      for (int64_t i = 0; i < n && !g_violated; ++i) {
        for (int c = 0; c < kDim; ++c) {
          if (rows[i * kDim + c] != expected_[i]) {
            violation("SILENT LOSS: a pull after acknowledged pushes succeeded with key " +
                      std::to_string(keys_[i]) + " (shard " + std::to_string(shard_[i]) +
                      ") element " + std::to_string(c) + " = " +
                      std::to_string(rows[i * kDim + c]) + ", expected " +
                      std::to_string(expected_[i]) + " (" + std::to_string(acked_since_baseline_) +
                      " pushes acknowledged since the last re-baseline)");
            break;
          }
        }
      }
    }
  }

  // After the soak, with every shard up: this client's rows, through its own
  // client (which must not report a restart: there was none since its last
  // call), equal what it expects.
  void final_check() {
    const int64_t n = static_cast<int64_t>(keys_.size());
    std::vector<float> rows(n * kDim);
    try {
      client_.pull(kTable, keys_.data(), n, kDim, rows.data()).wait();
    } catch (const Error& e) {
      ADD_FAILURE() << "client " << id_ << ": the final pull failed with no kill since its last "
                    << "call: " << e.what();
      return;
    }
    expect_rows("its own client's final pull", rows);
  }

  void expect_rows(const std::string& what, const std::vector<float>& rows) const {
    for (size_t i = 0; i < keys_.size(); ++i) {
      for (int c = 0; c < kDim; ++c) {
        if (rows[i * kDim + c] != expected_[i]) {
          ADD_FAILURE() << "client " << id_ << ", " << what << ": key " << keys_[i] << " (shard "
                        << shard_[i] << ") element " << c << " = " << rows[i * kDim + c]
                        << ", expected " << expected_[i];
          return;
        }
      }
    }
  }

  const std::vector<int64_t>& keys() const { return keys_; }
  const std::vector<float>& expected() const { return expected_; }
  int64_t acked_since_baseline() const { return acked_since_baseline_; }
  int id() const { return id_; }

 private:
  void reported(const Error& e) {
    if (const auto* r = dynamic_cast<const ShardRestartedError*>(&e)) {
      ++tally_->restart_errors;
      EXPECT_NE(r->before(), r->after());
    } else if (dynamic_cast<const RequestError*>(&e) != nullptr) {
      // A live shard answering with an error: a restart shows first as
      // ShardRestartedError, and the table is re-created while re-baselining.
      violation(std::string("unexpected server error during the soak: ") + e.what());
    } else {
      ++tally_->exhausted_errors;
    }
  }

  // The client cannot know which updates survived the failed call: it adopts
  // the shards' current incarnations and takes their rows as its new
  // expectation, checking what it can. after_push: the failed call was a
  // push, which may have landed on some shards.
  void rebaseline(bool after_push, const std::string& why) {
    if (known_incarnation_[0] != 0) ++tally_->rebaselines;
    const int64_t n = static_cast<int64_t>(keys_.size());
    std::vector<float> rows(n * kDim);
    const Clock::time_point start = Clock::now();
    std::string last_error = why;
    while (!g_violated) {
      if (seconds_since(start) > kRebaselineS) {
        violation("could not re-baseline for " + std::to_string(kRebaselineS) +
                  " s; last error: " + last_error);
        return;
      }
      try {
        client_.accept_restarts();
        client_.pull(kTable, keys_.data(), n, kDim, rows.data()).wait();
        // The incarnations the pull read from: a connection still open is to
        // the same process, and a reconnect to another one fails here.
        const std::vector<ShardHealth> health = client_.health();
        bool all_up = true;
        for (const ShardHealth& h : health) all_up = all_up && h.reachable;
        if (all_up) {
          adopt(rows, health, after_push);
          return;
        }
        last_error = "health after the pull: a shard was unreachable or restarted again";
      } catch (const RequestError& e) {
        last_error = e.what();
        // A shard restored from a snapshot older than the table.
        if (e.code() == ErrorCode::kUnknownTable) {
          try {
            client_.create_table(soak_spec());
          } catch (const Error& again) {
            last_error = again.what();
          }
        }
      } catch (const Error& e) {
        last_error = e.what();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void adopt(const std::vector<float>& rows, const std::vector<ShardHealth>& health,
             bool after_push) {
    const float may_have_landed = after_push ? 1.0f : 0.0f;
    std::vector<bool> restarted(kShards), landed(kShards, false);
    std::vector<float> lost(kShards, 0.0f);
    for (int s = 0; s < kShards; ++s) {
      restarted[s] = known_incarnation_[s] != 0 && health[s].incarnation != known_incarnation_[s];
    }
    for (size_t i = 0; i < keys_.size() && !g_violated; ++i) {
      const float* row = rows.data() + i * kDim;
      const float v = row[0];
      const std::string key =
          "key " + std::to_string(keys_[i]) + " (shard " + std::to_string(shard_[i]) + ")";
      for (int c = 1; c < kDim; ++c) {
        if (row[c] != v) {
          violation("TORN ROW after a failure: " + key + " element 0 = " + std::to_string(v) +
                    ", element " + std::to_string(c) + " = " + std::to_string(row[c]));
          return;
        }
      }
      const float e = expected_[i];
      if (known_incarnation_[shard_[i]] == 0) {
        // First meeting: nothing to compare with.
      } else if (!restarted[shard_[i]]) {
        if (v != e && v != e - may_have_landed) {
          violation("LOSS WITHOUT RESTART: " + key + " kept incarnation " +
                    std::to_string(health[shard_[i]].incarnation) + " but holds " +
                    std::to_string(v) + ", expected " + std::to_string(e) +
                    (after_push ? " (or one less: the failed push)" : ""));
          return;
        }
        if (v != e) landed[shard_[i]] = true;
      } else if (v < e - may_have_landed) {
        violation("PHANTOM UPDATES: restarted " + key + " holds " + std::to_string(v) + ", below " +
                  std::to_string(e - may_have_landed) + ", more updates than were ever sent");
        return;
      } else {
        lost[shard_[i]] = std::max(lost[shard_[i]], v - e);
      }
      expected_[i] = v;
    }
    for (int s = 0; s < kShards; ++s) {
      if (restarted[s]) ++tally_->restarts_adopted;
      if (landed[s]) ++tally_->pushes_found_landed;
      tally_->acked_pushes_lost += static_cast<int64_t>(lost[s]);
      known_incarnation_[s] = health[s].incarnation;
    }
    acked_since_baseline_ = 0;
  }

  void violation(const std::string& what) {
    if (g_violated.exchange(true)) return;  // only the first is the story
    ADD_FAILURE() << "client " << id_ << ": " << what;
  }

  const int id_;
  PsClient client_;
  Tally* tally_;
  std::vector<int64_t> keys_;
  std::vector<int> shard_;                  // the owner of each key
  std::vector<float> expected_;             // per key, every element
  std::vector<int64_t> known_incarnation_;  // per shard, at the last baseline
  int64_t acked_since_baseline_ = 0;
};

std::vector<std::string> shard_args(int s, int port, const std::string& dir) {
  return {"--port", std::to_string(port), "--shard", std::to_string(s) + "/2", "--checkpoint-dir",
          dir,      "--checkpoint-every", "0.3"};
}

// Waits until every shard's `latest` snapshot holds the table, so that a
// restart from it finds the table.
bool wait_for_first_checkpoint(const std::string& dir) {
  for (int i = 0; i < 100; ++i) {
    bool all = true;
    for (int s = 0; s < kShards; ++s) {
      char name[64];
      std::snprintf(name, sizeof(name), "/latest/shard-%05d-of-%05d.h5", s, kShards);
      std::error_code ec;
      all = all && std::filesystem::exists(dir + name, ec);
    }
    if (all) {
      // One more interval: the file seen may have been written before the table.
      std::this_thread::sleep_for(std::chrono::milliseconds(700));
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST(PsSoak, KilledShardsNeverLoseAnAcknowledgedPushSilently) {
  const double soak_s = env_double("HYBREC_SOAK_S", 40.0);
  const uint64_t seed = static_cast<uint64_t>(env_double("HYBREC_SOAK_SEED", 20250117));
  std::printf("soak %.0f s (HYBREC_SOAK_S), seed %llu (HYBREC_SOAK_SEED)\n", soak_s,
              static_cast<unsigned long long>(seed));
  g_violated = false;

  TempDir dir;
  const std::vector<int> ports = {testing::free_port(), testing::free_port()};
  ASSERT_NE(ports[0], 0);
  ASSERT_NE(ports[1], 0);
  ASSERT_NE(ports[0], ports[1]);
  std::vector<std::unique_ptr<PsProcess>> shards;
  std::vector<Endpoint> endpoints;
  for (int s = 0; s < kShards; ++s) {
    shards.push_back(std::make_unique<PsProcess>(shard_args(s, ports[s], dir.path())));
    ASSERT_TRUE(shards[s]->running());
  }
  for (int s = 0; s < kShards; ++s) {
    endpoints.push_back(parse_endpoints(shards[s]->address()).at(0));
  }
  {
    PsClient setup(endpoints, quick_retries());
    setup.create_table(soak_spec());
  }
  ASSERT_TRUE(wait_for_first_checkpoint(dir.path())) << "no `latest` snapshot in " << dir.path();

  Tally tally;
  std::vector<std::unique_ptr<SoakClient>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::make_unique<SoakClient>(c, endpoints, &tally));
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  // Joins the clients on every way out of the test, so that a failed
  // assertion leaves no thread behind; the PsProcess destructors then kill
  // the shards.
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (std::thread& t : threads) {
        if (t.joinable()) t.join();
      }
    }
  } joiner{stop, threads};
  for (auto& c : clients) threads.emplace_back([&stop, client = c.get()] { client->run(stop); });

  // The killer, on this thread: a random shard at a random moment, down for
  // a random while, then restarted with the same flags on the same port.
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> up_s(0.3, 1.5), down_s(0.0, 0.3);
  int kills = 0, restored = 0;
  std::vector<int> kills_of(kShards, 0);
  const Clock::time_point soak_start = Clock::now();
  auto sleep_s = [](double s) {
    const Clock::time_point until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                       std::chrono::duration<double>(s));
    while (Clock::now() < until && !g_violated) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
  while (seconds_since(soak_start) < soak_s && !g_violated) {
    sleep_s(up_s(rng));
    if (g_violated) break;
    const int s = static_cast<int>(rng() % kShards);
    shards[s]->signal(SIGKILL);
    EXPECT_EQ(shards[s]->wait(), 128 + SIGKILL) << "shard " << s;
    ++kills;
    ++kills_of[s];
    sleep_s(down_s(rng));
    shards[s] = std::make_unique<PsProcess>(shard_args(s, ports[s], dir.path()));
    if (!shards[s]->running()) {
      ADD_FAILURE() << "shard " << s << " did not restart on port " << ports[s] << " after kill "
                    << kills;
      g_violated = true;
      break;
    }
    if (shards[s]->banner().find("restored") != std::string::npos) {
      ++restored;
    } else {
      ADD_FAILURE() << "shard " << s
                    << " restarted without restoring its latest snapshot: " << shards[s]->banner();
    }
  }
  const double killing_s = seconds_since(soak_start);
  sleep_s(kCalmS);
  stop = true;
  for (std::thread& t : threads) t.join();
  threads.clear();

  std::printf(
      "%.1f s of kills: %d kills (shard 0: %d, shard 1: %d), %d restarts restored latest\n"
      "clients: %lld pushes acknowledged, %lld failed (reported), %lld verifying pulls, %lld "
      "pulls failed (reported)\n"
      "reports: %lld ShardRestartedError, %lld calls failed after their retries; %lld "
      "re-baselines, %lld restarts adopted, %lld failed pushes found to have landed on a shard, "
      "%lld acknowledged pushes lost in restarts (each reported)\n",
      killing_s, kills, kills_of[0], kills_of[1], restored,
      static_cast<long long>(tally.pushes_acked.load()),
      static_cast<long long>(tally.push_failures.load()),
      static_cast<long long>(tally.pulls_verified.load()),
      static_cast<long long>(tally.pull_failures.load()),
      static_cast<long long>(tally.restart_errors.load()),
      static_cast<long long>(tally.exhausted_errors.load()),
      static_cast<long long>(tally.rebaselines.load()),
      static_cast<long long>(tally.restarts_adopted.load()),
      static_cast<long long>(tally.pushes_found_landed.load()),
      static_cast<long long>(tally.acked_pushes_lost.load()));
  std::fflush(stdout);
  ASSERT_FALSE(g_violated) << "an invariant broke; the first failure above says which";

  // Not vacuous: shards were killed, clients were told, and most pushes went
  // through.
  EXPECT_GE(kills, std::max(3, static_cast<int>(soak_s / 4)));
  EXPECT_GT(tally.restart_errors.load(), 0);
  EXPECT_GT(tally.restarts_adopted.load(), 0);
  const int64_t pushes = tally.pushes_acked + tally.push_failures;
  EXPECT_GE(tally.pushes_acked.load(), pushes * 9 / 10) << pushes << " pushes";
  EXPECT_GE(tally.pushes_acked.load(), 100 * kills);

  // Every client's rows are what it expects: pushes acknowledged since its
  // last re-baseline (at least one each, in the calm period) are all there.
  for (auto& c : clients) {
    EXPECT_GT(c->acked_since_baseline(), 0) << "client " << c->id();
    c->final_check();
  }
  // So says a client with no memory of incarnations.
  auto check_all = [&](const std::string& what) {
    PsClient fresh(endpoints, quick_retries());
    for (auto& c : clients) {
      std::vector<float> rows(c->keys().size() * kDim);
      fresh.pull(kTable, c->keys().data(), c->keys().size(), kDim, rows.data()).wait();
      c->expect_rows(what, rows);
    }
  };
  check_all("a fresh client's pull");
  // And so do the shards after a clean stop (final checkpoint) and restart.
  for (int s = 0; s < kShards; ++s) {
    shards[s]->signal(SIGTERM);
    EXPECT_EQ(shards[s]->wait(), 0) << "shard " << s;
    shards[s] = std::make_unique<PsProcess>(shard_args(s, ports[s], dir.path()));
    ASSERT_TRUE(shards[s]->running());
  }
  check_all("a pull after SIGTERM and restart");
}

}  // namespace
}  // namespace hybrec::ps
