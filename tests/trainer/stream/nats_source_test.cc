// The NATS JetStream source and sink against a real nats-server on loopback
// (started and killed by the tests, never a mock): positions are stream
// sequences, the reader's start_after is authoritative over the durable
// consumer's stored state, acks reach the broker, a broker killed with
// SIGKILL and restarted on its store loses and repeats nothing, and every
// failure names what failed.
#include <gtest/gtest.h>
#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "hybrec/kernels/error.h"
#include "nats_server.h"
#include "trainer/stream/nats_event_source.h"

namespace hybrec::trainer {
namespace {

using std::chrono::milliseconds;
using testing::NatsServer;

StreamEvent event_number(int64_t i) {
  StreamEvent e;
  e.user = i;
  e.item = 1000 + i;
  e.timestamp = 1'700'000'000 + i;
  if (i % 3 == 0) e.item_text = "item \"" + std::to_string(i) + "\"";
  return e;
}

void publish_range(const std::string& url, int64_t first, int64_t last) {
  auto sink = open_nats_event_sink(url);
  for (int64_t i = first; i <= last; ++i) sink->publish(event_number(i));
}

// Polls until `n` events have come (or 30 s passed).
std::vector<StreamEvent> read_n(EventSource& source, std::size_t n, std::size_t max = 4) {
  std::vector<StreamEvent> got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
    for (auto& e : source.poll(std::min(max, n - got.size()), milliseconds(200))) {
      got.push_back(std::move(e));
    }
  }
  return got;
}

std::vector<uint64_t> positions(const std::vector<StreamEvent>& events) {
  std::vector<uint64_t> p;
  for (const auto& e : events) p.push_back(e.position);
  return p;
}

std::vector<uint64_t> range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> r;
  for (uint64_t i = first; i <= last; ++i) r.push_back(i);
  return r;
}

// Each event is the one published as number == its position.
void expect_payloads_match_positions(const std::vector<StreamEvent>& events) {
  for (const auto& e : events) {
    const StreamEvent want = event_number(static_cast<int64_t>(e.position));
    EXPECT_EQ(e.user, want.user) << "position " << e.position;
    EXPECT_EQ(e.item, want.item) << "position " << e.position;
    EXPECT_EQ(e.timestamp, want.timestamp) << "position " << e.position;
    EXPECT_EQ(e.item_text, want.item_text) << "position " << e.position;
  }
}

// The broker's side, through the C client directly: what a consumer has
// recorded, raw publishes the sink would never make.
class BrokerView {
 public:
  explicit BrokerView(int port) {
    const std::string server = "nats://127.0.0.1:" + std::to_string(port);
    ok_ = natsConnection_ConnectTo(&nc_, server.c_str()) == NATS_OK &&
          natsConnection_JetStream(&js_, nc_, nullptr) == NATS_OK;
  }
  ~BrokerView() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
  }
  bool ok() const { return ok_; }

  // The consumer's ack floor (stream sequence); -1 when it does not exist.
  int64_t ack_floor(const std::string& stream, const std::string& consumer) {
    jsConsumerInfo* ci = nullptr;
    if (js_GetConsumerInfo(&ci, js_, stream.c_str(), consumer.c_str(), nullptr, nullptr) !=
        NATS_OK) {
      return -1;
    }
    const auto floor = static_cast<int64_t>(ci->AckFloor.Stream);
    jsConsumerInfo_Destroy(ci);
    return floor;
  }

  // Acks travel without a reply: wait (up to 5 s) for the floor to show.
  int64_t ack_floor_when(const std::string& stream, const std::string& consumer, int64_t want) {
    int64_t floor = -1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      floor = ack_floor(stream, consumer);
      if (floor == want) break;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return floor;
  }

  int64_t consumer_count(const std::string& stream) {
    jsStreamInfo* si = nullptr;
    if (js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, nullptr) != NATS_OK) return -1;
    const int64_t n = si->State.Consumers;
    jsStreamInfo_Destroy(si);
    return n;
  }

  bool publish_raw(const std::string& subject, const std::string& payload) {
    jsPubAck* ack = nullptr;
    const bool ok = js_Publish(&ack, js_, subject.c_str(), payload.data(),
                               static_cast<int>(payload.size()), nullptr, nullptr) == NATS_OK;
    jsPubAck_Destroy(ack);
    return ok;
  }

 private:
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  bool ok_ = false;
};

class NatsStream : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(NatsServer::available())
        << "these tests start a real NATS broker and need " << NatsServer::binary()
        << " (Debian package nats-server; scripts/setup-deps.sh installs it, or set "
           "HYBREC_NATS_SERVER to another nats-server binary)";
    server_ = std::make_unique<NatsServer>();
    ASSERT_TRUE(server_->running());
    url_ = server_->url(kSubject);
  }

  static constexpr char kSubject[] = "hybrec.events";
  static constexpr char kStream[] = "HYBREC_hybrec_events";
  std::unique_ptr<NatsServer> server_;
  std::string url_;
};

EventSourceOptions durable(uint64_t start_after, const std::string& name = "trainer") {
  EventSourceOptions o;
  o.start_after = start_after;
  o.durable_name = name;
  return o;
}

EventSourceOptions ephemeral(uint64_t start_after) {
  EventSourceOptions o;
  o.start_after = start_after;
  return o;
}

TEST_F(NatsStream, SinkEventsComeBackWithPositionsOneToN) {
  publish_range(url_, 1, 25);
  auto source = open_nats_event_source(url_, durable(0));
  EXPECT_EQ(source->describe(), url_);
  const auto got = read_n(*source, 25, 10);
  EXPECT_EQ(positions(got), range(1, 25));
  expect_payloads_match_positions(got);
  EXPECT_TRUE(source->poll(10, milliseconds(300)).empty()) << "an event beyond the 25 published";
}

TEST_F(NatsStream, SourceSeesEventsPublishedWhileItWaits) {
  auto source = open_nats_event_source(url_, durable(0));
  EXPECT_TRUE(source->poll(10, milliseconds(100)).empty());
  std::thread writer([&] { publish_range(url_, 1, 5); });
  const auto got = read_n(*source, 5);
  writer.join();
  EXPECT_EQ(positions(got), range(1, 5));
}

TEST_F(NatsStream, DurableReopenedAfterItsAckGetsExactlyTheRest) {
  publish_range(url_, 1, 10);
  {
    auto source = open_nats_event_source(url_, durable(0));
    ASSERT_EQ(positions(read_n(*source, 10)), range(1, 10));
    source->ack(6);
    BrokerView broker(server_->port());
    ASSERT_TRUE(broker.ok());
    EXPECT_EQ(broker.ack_floor_when(kStream, "trainer", 6), 6)
        << "the ack did not reach the broker";
  }
  auto source = open_nats_event_source(url_, durable(6));
  const auto got = read_n(*source, 4);
  EXPECT_EQ(positions(got), range(7, 10));
  expect_payloads_match_positions(got);
  EXPECT_TRUE(source->poll(10, milliseconds(300)).empty());
}

TEST_F(NatsStream, CheckpointIsAuthoritativeOverTheBrokersAckFloor) {
  publish_range(url_, 1, 10);
  BrokerView broker(server_->port());
  ASSERT_TRUE(broker.ok());
  {
    auto source = open_nats_event_source(url_, durable(0));
    ASSERT_EQ(positions(read_n(*source, 10)), range(1, 10));
    source->ack(8);
    ASSERT_EQ(broker.ack_floor_when(kStream, "trainer", 8), 8);
  }
  {
    // The trainer's checkpoint is older than what the broker recorded (it
    // crashed after acking, before checkpointing): 4..10 again.
    auto source = open_nats_event_source(url_, durable(3));
    EXPECT_EQ(positions(read_n(*source, 7)), range(4, 10));
    EXPECT_TRUE(source->poll(10, milliseconds(300)).empty());
    // The consumer was made again at the checkpoint (the broker shows no
    // ack floor for it until the first ack).
    EXPECT_LE(broker.ack_floor(kStream, "trainer"), 3);
    source->ack(5);
    EXPECT_EQ(broker.ack_floor_when(kStream, "trainer", 5), 5);
  }
  // And newer than the broker's floor (5 now): only 10.
  auto source = open_nats_event_source(url_, durable(9));
  EXPECT_EQ(positions(read_n(*source, 1)), range(10, 10));
  EXPECT_TRUE(source->poll(10, milliseconds(300)).empty());
}

TEST_F(NatsStream, AckCoversEverythingUpToItAndNeverRunsAhead) {
  publish_range(url_, 1, 10);
  auto source = open_nats_event_source(url_, durable(0));
  ASSERT_EQ(positions(read_n(*source, 5)), range(1, 5));
  try {
    source->ack(6);
    FAIL() << "ack of an event not yet returned was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(url_), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("position 6"), std::string::npos) << e.what();
  }
  source->ack(5);
  source->ack(2);  // behind: nothing to do
  BrokerView broker(server_->port());
  ASSERT_TRUE(broker.ok());
  EXPECT_EQ(broker.ack_floor_when(kStream, "trainer", 5), 5);
  EXPECT_EQ(positions(read_n(*source, 5)), range(6, 10));
}

TEST_F(NatsStream, EphemeralReaderStartsAfterAndRecordsNothing) {
  publish_range(url_, 1, 10);
  BrokerView broker(server_->port());
  ASSERT_TRUE(broker.ok());
  {
    auto trainer = open_nats_event_source(url_, durable(0));
    ASSERT_EQ(positions(read_n(*trainer, 5)), range(1, 5));
    trainer->ack(5);
    ASSERT_EQ(broker.ack_floor_when(kStream, "trainer", 5), 5);
  }
  {
    auto serving = open_nats_event_source(url_, ephemeral(4));
    const auto got = read_n(*serving, 6);
    EXPECT_EQ(positions(got), range(5, 10));
    expect_payloads_match_positions(got);
    serving->ack(10);  // accepted, recorded nowhere
    EXPECT_EQ(broker.consumer_count(kStream), 2);
  }
  EXPECT_EQ(broker.ack_floor(kStream, "trainer"), 5) << "the ephemeral reader moved the durable";
  EXPECT_EQ(broker.consumer_count(kStream), 1) << "the ephemeral consumer outlived its source";
  // A second ephemeral reader from the start sees everything.
  auto again = open_nats_event_source(url_, ephemeral(0));
  EXPECT_EQ(positions(read_n(*again, 10)), range(1, 10));
}

TEST_F(NatsStream, BrokerKilledMidPollLosesAndRepeatsNothing) {
  publish_range(url_, 1, 100);
  std::atomic<std::size_t> read{0};
  ::testing::internal::CaptureStderr();
  // Two outages while the reader polls: SIGKILL, down for a while, restart
  // on the same port and store, then more events. Joined also when an
  // assertion below throws, so a failure is reported, not std::terminate.
  struct Joiner {
    std::atomic<std::size_t>& read;
    std::thread thread;
    ~Joiner() {
      read.store(1000);
      if (thread.joinable()) thread.join();
    }
  } chaos{read, {}};
  chaos.thread = std::thread([&] {
    try {
      while (read.load() < 40) std::this_thread::sleep_for(milliseconds(5));
      server_->kill();
      std::this_thread::sleep_for(milliseconds(1500));
      server_->start();
      publish_range(url_, 101, 120);
      while (read.load() < 110) std::this_thread::sleep_for(milliseconds(5));
      server_->kill();
      std::this_thread::sleep_for(milliseconds(700));
      server_->start();
      publish_range(url_, 121, 150);
    } catch (const Error& e) {
      ADD_FAILURE() << "publishing after the restart: " << e.what();
    }
  });
  auto source = open_nats_event_source(url_, durable(0));
  std::vector<StreamEvent> got;
  uint64_t unacked_until = 0;
  std::string error;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (got.size() < 150 && std::chrono::steady_clock::now() < deadline) {
    std::vector<StreamEvent> batch;
    try {
      batch = source->poll(7, milliseconds(200));
    } catch (const Error& e) {
      error = e.what();
      break;
    }
    if (batch.empty()) continue;
    // The trainer's habit: ack the batch before last, so some returned
    // events are always unacknowledged when the broker dies.
    if (unacked_until > 0) source->ack(unacked_until);
    unacked_until = batch.back().position;
    for (auto& e : batch) got.push_back(std::move(e));
    read.store(got.size());
  }
  read.store(1000);
  chaos.thread.join();
  EXPECT_EQ(error, "") << "poll gave up";
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(positions(got), range(1, 150));
  expect_payloads_match_positions(got);
  EXPECT_TRUE(source->poll(10, milliseconds(300)).empty());
  EXPECT_NE(err.find("NATS broker " + url_ + " unreachable"), std::string::npos) << err;
}

TEST_F(NatsStream, MalformedPayloadNamesItsSequenceAndIsNotSkipped) {
  publish_range(url_, 1, 2);
  BrokerView broker(server_->port());
  ASSERT_TRUE(broker.ok());
  ASSERT_TRUE(broker.publish_raw(kSubject, "{\"user\": 3, \"item\": oops"));
  publish_range(url_, 4, 4);
  auto source = open_nats_event_source(url_, durable(0));
  std::vector<StreamEvent> got;
  std::string error;
  for (int i = 0; i < 20 && error.empty(); ++i) {
    try {
      for (auto& e : source->poll(10, milliseconds(200))) got.push_back(e);
    } catch (const Error& e) {
      error = e.what();
    }
  }
  EXPECT_EQ(positions(got), range(1, 2)) << "events before the malformed one must come first";
  EXPECT_NE(error.find(url_ + " sequence 3: not a JSON object"), std::string::npos) << error;
  // Polling on does not step over it.
  try {
    source->poll(10, milliseconds(200));
    ADD_FAILURE() << "the malformed event was skipped";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sequence 3"), std::string::npos) << e.what();
  }
  // A reader that starts after it reads on.
  auto after = open_nats_event_source(url_, durable(3));
  EXPECT_EQ(positions(read_n(*after, 1)), range(4, 4));
}

TEST_F(NatsStream, MalformedUrlsAreNamed) {
  const std::string port = std::to_string(server_->port());
  const std::vector<std::string> bad_urls = {"http://127.0.0.1:" + port + "/s",
                                             "nats://127.0.0.1:" + port,
                                             "nats://127.0.0.1:" + port + "/",
                                             "nats://127.0.0.1/subject",
                                             "nats://127.0.0.1:99999/subject",
                                             "nats://127.0.0.1:4x22/subject",
                                             "nats://:" + port + "/subject",
                                             "nats://127.0.0.1:" + port + "/a..b",
                                             "nats://127.0.0.1:" + port + "/events.*",
                                             "nats://127.0.0.1:" + port + "/events.>",
                                             "nats://127.0.0.1:" + port + "/a b",
                                             "nats://127.0.0.1:" + port + "/a/b",
                                             "nats://user@127.0.0.1:" + port + "/subject"};
  for (const std::string& bad : bad_urls) {
    try {
      open_nats_event_source(bad, durable(0));
      ADD_FAILURE() << "source accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'" + bad + "'"), std::string::npos) << e.what();
    }
    try {
      open_nats_event_sink(bad);
      ADD_FAILURE() << "sink accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'" + bad + "'"), std::string::npos) << e.what();
    }
  }
  try {
    open_nats_event_source(url_, durable(0, "has.dot"));
    ADD_FAILURE() << "a durable name with '.' was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has.dot"), std::string::npos) << e.what();
  }
}

TEST_F(NatsStream, BrokerThatNeverComesBackIsNamedWithinTheBound) {
  publish_range(url_, 1, 3);
  NatsOptions quick;
  quick.retry_for = milliseconds(1500);
  auto source = open_nats_event_source(url_, durable(0), quick);
  auto sink = open_nats_event_sink(url_, quick);
  ASSERT_EQ(positions(read_n(*source, 3)), range(1, 3));
  server_->kill();

  ::testing::internal::CaptureStderr();
  const auto start = std::chrono::steady_clock::now();
  std::string error;
  try {
    for (int i = 0; i < 10; ++i) source->poll(10, milliseconds(100));
  } catch (const Error& e) {
    error = e.what();
  }
  const auto took = std::chrono::steady_clock::now() - start;
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(error.find("NATS broker " + url_ + " unreachable"), std::string::npos) << error;
  EXPECT_NE(error.find("giving up"), std::string::npos) << error;
  EXPECT_GE(took, milliseconds(1500)) << "gave up before the retry bound";
  EXPECT_LT(took, std::chrono::seconds(20)) << "the retry bound was not honoured";
  // One line for the outage, not one per retry.
  std::size_t lines = 0;
  for (std::size_t at = err.find(url_); at != std::string::npos; at = err.find(url_, at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << err;

  try {
    sink->publish(event_number(4));
    ADD_FAILURE() << "publish to a dead broker returned";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NATS broker " + url_), std::string::npos) << e.what();
  }
  // Opening against it fails the same way.
  try {
    open_nats_event_source(url_, durable(0), quick);
    ADD_FAILURE() << "opened a source on a dead broker";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NATS broker " + url_), std::string::npos) << e.what();
  }
}

TEST_F(NatsStream, PublishWaitsForABrokerThatComesBack) {
  auto sink = open_nats_event_sink(url_);
  sink->publish(event_number(1));
  server_->kill();
  std::thread restart([&] {
    std::this_thread::sleep_for(milliseconds(1000));
    server_->start();
  });
  sink->publish(event_number(2));  // returns once stored
  restart.join();
  sink->publish(event_number(3));
  auto source = open_nats_event_source(url_, ephemeral(0));
  const auto got = read_n(*source, 3);
  EXPECT_EQ(positions(got), range(1, 3));
  expect_payloads_match_positions(got);
  EXPECT_TRUE(source->poll(10, milliseconds(300)).empty()) << "a publish was stored twice";
}

TEST_F(NatsStream, CheckpointPastTheEndOfTheStreamIsRefused) {
  publish_range(url_, 1, 3);
  try {
    open_nats_event_source(url_, durable(7));
    FAIL() << "start_after 7 on a stream of 3 events was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ends at sequence 3"), std::string::npos) << e.what();
  }
}

TEST_F(NatsStream, SubjectsSharingAStreamNameAreRefused) {
  publish_range(server_->url("a.b"), 1, 1);
  try {
    open_nats_event_sink(server_->url("a_b"));
    FAIL() << "a_b was given the stream of a.b";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("HYBREC_a_b"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'a_b'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hybrec::trainer
