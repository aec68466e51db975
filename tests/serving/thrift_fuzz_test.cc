// Fuzzing the Thrift port of a served run through its socket.
//
// The port faces clients that may be broken or hostile: whatever they send
// (random bytes, truncated or oversized frames, lists and strings declaring
// more than their frame holds, unknown method names, fields of the wrong
// type, mangled calls) must leave the server serving, answer every
// well-formed call as the contract says, never fail a call as INTERNAL, and
// allocate no more than a frame's worth for any of it. The server (in this
// process, on a free port) gets a seeded mix of thousands of frames over
// many connections from several threads, then must answer a good request
// exactly as the library does. HYBREC_FUZZ_SEED=N reproduces another mix,
// HYBREC_FUZZ_FRAMES=N sends more.
#include <gtest/gtest.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "fuzz/frames.h"
#include "ps/fuzz/raw_connection.h"
#include "ps/fuzz/tally.h"
#include "ps/fuzz/wire_bytes.h"
#include "serving/served_run.h"
#include "serving/thrift/server.h"
#include "serving/wire/connection.h"
#include "small_run.h"
#include "testing/temp_dir.h"

namespace hybrec::serving::fuzz {
namespace {

namespace at = apache::thrift;
using ps::fuzz::Conn;

const std::string kBin = HYBREC_BIN;
constexpr int kWorkers = 3;

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoll(v) : fallback;
}

// The process's peak resident memory since the last reset_peak_rss(), KiB.
int64_t peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

// Under AddressSanitizer freed memory stays resident in its quarantine (256
// MiB), so the peak counts every byte freed during the fuzzing, not what was
// live at once; the bound on the whole mix holds only without it.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPeakIsLiveMemory = false;
#else
constexpr bool kPeakIsLiveMemory = true;
#endif

class ThriftFuzz : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new hybrec::testing::TempDir("hybrec-thrift-fuzz");
    ServeOptions options;
    options.run = serving::testing::train_small_run(kBin, dir_->path());
    options.refresh_s = 0;
    served_ = new ServedRun(options);
    ThriftServerOptions t;
    t.threads = 2;
    t.max_frame_bytes = kMaxFrame;
    t.max_batch = 16;
    t.observer = [](double, int outcome) { ++outcomes_[outcome]; };
    server_ = new ThriftServer(*served_, t);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete served_;
    delete dir_;
  }

  // What is wrong with the reply to a checked frame ("" when nothing).
  static std::string check_reply(Kind kind, const Expect& e, const std::string& frame) {
    auto memory = std::make_shared<at::transport::TMemoryBuffer>();
    memory->write(reinterpret_cast<const uint8_t*>(frame.data()) + 4,
                  static_cast<uint32_t>(frame.size() - 4));
    auto in = std::make_shared<at::protocol::TBinaryProtocol>(memory);
    try {
      if (kind == kWrongMethod) {
        std::string name;
        at::protocol::TMessageType type;
        int32_t seqid = 0;
        in->readMessageBegin(name, type, seqid);
        if (type != at::protocol::T_EXCEPTION || name != e.method) return "not an exception";
        at::TApplicationException x;
        x.read(in.get());
        return x.getType() == at::TApplicationException::UNKNOWN_METHOD ? "" : x.what();
      }
      wire::RecommenderServiceClient client(in);
      std::vector<wire::RecommendReply> replies(1);
      if (e.batch) {
        client.recv_recommend_batch(replies);
      } else {
        client.recv_recommend(replies[0]);
      }
      if (kind == kWrongType) return "a wrong field type was accepted";
      if (e.batch && static_cast<int64_t>(replies.size()) != e.requests) {
        return std::to_string(replies.size()) + " replies to " + std::to_string(e.requests);
      }
      for (const wire::RecommendReply& r : replies) {
        for (const wire::ScoredItem& item : r.items) {
          if (item.item < 0 || item.item >= kNumItems || item.title != served_->title(item.item)) {
            return "item " + std::to_string(item.item) + " titled '" + item.title + "'";
          }
        }
      }
    } catch (const wire::ServingError& error) {
      if (error.code != wire::ErrorCode::BAD_REQUEST) {
        return wire::error_code_name(error.code) + ": " + error.message;
      }
      if (error.message.find(e.words) == std::string::npos) return "message: " + error.message;
    } catch (const std::exception& x) {
      return std::string("unreadable reply: ") + x.what();
    }
    return "";
  }

  // One connection: checked calls until an unchecked frame ends it.
  static void run_connection(Rng& rng, ps::fuzz::Failures& failures, std::atomic<int64_t>* counts) {
    Conn c(server_->port());
    if (!c.ok()) {
      failures.add("connect: " + c.error());
      return;
    }
    const int frames = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < frames; ++f) {
      const Kind kind = pick_kind(rng);
      Expect expect;
      const std::string frame = make_frame(kind, rng, &expect);
      ++counts[kind];
      if (kind <= kWrongType) {
        std::string reply;
        const Conn::Read r =
            c.send(frame, false) ? c.read_frame(&reply, 10000) : Conn::Read::kClosed;
        const std::string wrong = r == Conn::Read::kData ? check_reply(kind, expect, reply)
                                                         : std::string("reply: ") + read_name(r);
        if (!wrong.empty()) failures.add(std::string(kKindNames[kind]) + ": " + wrong);
        continue;
      }
      // The frame limit closes the connection by itself; anything else
      // closes when the client has gone.
      c.send(frame, true);
      if (kind != kOversized && kind != kNegative) c.shutdown_write();
      const Conn::Read r = c.drain(10000);
      if (r != Conn::Read::kClosed) {
        failures.add(std::string(kKindNames[kind]) + ": the connection was not closed (" +
                     read_name(r) + ")");
      }
      return;
    }
  }

  static hybrec::testing::TempDir* dir_;
  static ServedRun* served_;
  static ThriftServer* server_;
  static std::atomic<int64_t> outcomes_[3];
};

hybrec::testing::TempDir* ThriftFuzz::dir_ = nullptr;
ServedRun* ThriftFuzz::served_ = nullptr;
ThriftServer* ThriftFuzz::server_ = nullptr;
std::atomic<int64_t> ThriftFuzz::outcomes_[3] = {};

// A declared length is only a claim: a frame of a few bytes declaring a
// batch of a million requests, or ten million recent items, must have
// nothing allocated for them (the generated reader would allocate the
// batch; a TMemoryBuffer's default configuration would let the items
// through: processor.h, parameter_server/wire/frame_limits.h).
TEST_F(ThriftFuzz, ListsDeclaredLongerThanTheirFrameAllocateNothing) {
  const auto field = [](char type, char id) { return std::string{type, '\0', id}; };
  const std::string batch_args = field('\x0f', 1) + '\x0c' + ps::fuzz::be32(1000000) + '\0';
  const std::string items_args =
      field('\x0c', 1) + field('\x0f', 2) + '\x0a' + ps::fuzz::be32(10000000) + "12345678";
  reset_peak_rss();
  const int64_t before = peak_rss_kib();
  ASSERT_GT(before, 0);
  for (int i = 0; i < 6; ++i) {
    const std::string message =
        i % 2 ? ps::fuzz::strict_message(0x80010001u, "recommend", items_args)
              : ps::fuzz::strict_message(0x80010001u, "recommend_batch", batch_args);
    Conn c(server_->port());
    ASSERT_TRUE(c.ok()) << c.error();
    ASSERT_TRUE(c.send(ps::fuzz::framed(message), false));
    c.shutdown_write();
    EXPECT_EQ(c.drain(10000), Conn::Read::kClosed);
  }
  // Either would be 80 MB or more.
  EXPECT_LT(peak_rss_kib() - before, 32 * 1024) << "KiB at peak";
  wire::Connection good(wire::Address{"127.0.0.1", server_->port()});
  EXPECT_EQ(good.health().num_items, kNumItems);
}

TEST_F(ThriftFuzz, EveryFrameLeavesTheServerAnsweringAsTheLibraryDoes) {
  const uint64_t seed = static_cast<uint64_t>(env_int("HYBREC_FUZZ_SEED", 14));
  const int64_t min_frames = env_int("HYBREC_FUZZ_FRAMES", 20000);
  reset_peak_rss();
  const int64_t rss_before = peak_rss_kib();
  std::atomic<int64_t> counts[kNumKinds] = {};
  const auto total = [&] {
    int64_t n = 0;
    for (const auto& c : counts) n += c.load();
    return n;
  };
  ps::fuzz::Failures failures;
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      Rng rng(seed * 7919 + static_cast<uint64_t>(w));
      while (total() < min_frames) run_connection(rng, failures, counts);
    });
  }
  for (std::thread& t : workers) t.join();

  std::string mix;
  for (int k = 0; k < kNumKinds; ++k) {
    mix += "  " + std::to_string(counts[k].load()) + "  " + kKindNames[k] + "\n";
    EXPECT_GT(counts[k].load(), 0) << kKindNames[k] << " never sent";
  }
  std::printf("seed %llu (HYBREC_FUZZ_SEED), %lld frames:\n%s",
              static_cast<unsigned long long>(seed), static_cast<long long>(total()), mix.c_str());
  EXPECT_EQ(failures.count(), 0) << failures.describe() << "seed " << seed << ", frames:\n" << mix;
  EXPECT_EQ(outcomes_[kCallError].load(), 0) << "calls failed as INTERNAL";
  EXPECT_GT(outcomes_[kCallOk].load(), 0);
  EXPECT_GT(outcomes_[kCallBadRequest].load(), 0);
  if (kPeakIsLiveMemory) {
    EXPECT_LT(peak_rss_kib() - rss_before, 256 * 1024) << "KiB at peak";
  }

  RecommendRequest r;
  r.user = 11;
  r.recent_items = {4, 8};
  const RecommendReply want = served_->recommender().recommend({r})[0];
  wire::Connection good(wire::Address{"127.0.0.1", server_->port()});
  wire::RecommendRequest w;
  w.__set_user(11);
  w.__set_recent_items({4, 8});
  w.__set_k(10);
  w.__set_exclude_seen(true);
  wire::RecommendReply got;
  good.client().recommend(got, w);
  ASSERT_EQ(got.items.size(), want.items.size());
  for (std::size_t i = 0; i < want.items.size(); ++i) {
    EXPECT_EQ(got.items[i].item, want.items[i].item) << "rank " << i;
    EXPECT_FLOAT_EQ(static_cast<float>(got.items[i].score), want.items[i].score) << "rank " << i;
  }
}

}  // namespace
}  // namespace hybrec::serving::fuzz
