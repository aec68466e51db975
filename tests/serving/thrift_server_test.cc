// The Thrift port of a served run, over real loopback sockets: the server
// (serving/thrift) in this process on a free port, the generated client and
// `hybrec recommend` against it. Its answers are the library's own
// (Recommender::recommend) with the items' titles; bad requests are typed
// BAD_REQUEST errors naming the problem, after which the server keeps
// answering; the observer is told each call's outcome.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "ps/golden_bytes.h"
#include "serving/served_run.h"
#include "serving/thrift/server.h"
#include "serving/wire/connection.h"
#include "small_run.h"
#include "testing/command.h"
#include "testing/temp_dir.h"

namespace hybrec::serving {
namespace {

using hybrec::testing::run_command;
namespace golden = hybrec::ps::golden;

const std::string kBin = HYBREC_BIN;
constexpr int64_t kMaxBatch = 8;

wire::RecommendRequest to_wire_request(const RecommendRequest& r) {
  wire::RecommendRequest w;
  if (r.user >= 0) w.__set_user(r.user);
  if (!r.recent_items.empty()) w.__set_recent_items(r.recent_items);
  if (!r.query.empty()) w.__set_query(r.query);
  w.__set_k(r.k);
  w.__set_exclude_seen(r.exclude_seen);
  if (!r.exclude_items.empty()) w.__set_exclude_items(r.exclude_items);
  return w;
}

class ThriftServing : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new hybrec::testing::TempDir("hybrec-thrift-test");
    ServeOptions options;
    options.run = testing::train_small_run(kBin, dir_->path());
    options.refresh_s = 0;
    served_ = new ServedRun(options);
    ThriftServerOptions t;
    t.threads = 2;
    t.max_batch = kMaxBatch;
    server_ = new ThriftServer(*served_, t);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete served_;
    delete dir_;
  }

  static wire::Address address() { return {"127.0.0.1", server_->port()}; }
  static std::string serve_flag() { return " --serve " + address().to_string(); }

  // Requests of every kind: known users with and without exclusions, a new
  // user with a session, query text, and nothing at all.
  static std::vector<RecommendRequest> mixed_requests() {
    std::vector<RecommendRequest> rs(5);
    rs[0].user = 7;
    rs[0].exclude_seen = false;
    rs[1].user = 5;
    rs[1].k = 20;
    rs[1].exclude_items = {0, 1, 2};
    rs[2].user = 1000000;
    rs[2].recent_items = {3, 17, 42};
    rs[3].recent_items = {50};
    rs[3].query = first_title();
    rs[3].k = 7;
    return rs;
  }

  static std::string first_title() {
    for (int64_t j = 0; j < served_->data().num_items; ++j) {
      if (!served_->title(j).empty()) return served_->title(j);
    }
    return "";
  }

  static void expect_same(const wire::RecommendReply& got, const RecommendReply& want) {
    EXPECT_EQ(got.new_user, want.new_user);
    EXPECT_EQ(got.snapshot_version, want.snapshot_version);
    ASSERT_EQ(got.items.size(), want.items.size());
    for (std::size_t i = 0; i < want.items.size(); ++i) {
      const wire::ScoredItem& g = got.items[i];
      const ScoredItem& w = want.items[i];
      EXPECT_EQ(g.item, w.item) << "rank " << i;
      EXPECT_EQ(g.title, served_->title(w.item)) << "rank " << i;
      EXPECT_FLOAT_EQ(static_cast<float>(g.score), w.score) << "rank " << i;
      EXPECT_FLOAT_EQ(static_cast<float>(g.cf), w.cf) << "rank " << i;
      EXPECT_FLOAT_EQ(static_cast<float>(g.text), w.text) << "rank " << i;
      EXPECT_FLOAT_EQ(static_cast<float>(g.new_item), w.new_item) << "rank " << i;
    }
  }

  // The ServingError a call fails with (its code -1 when it did not fail).
  template <typename Call>
  static wire::ServingError error_of(Call&& call) {
    try {
      call();
    } catch (const wire::ServingError& e) {
      return e;
    }
    wire::ServingError none;
    none.code = static_cast<wire::ErrorCode::type>(-1);
    return none;
  }

  // Sends a hand-built message (unframed; the connection frames it).
  static void send_raw(wire::Connection& c, const golden::Golden& message) {
    auto t = c.client().getOutputProtocol()->getTransport();
    t->write(reinterpret_cast<const uint8_t*>(message.b.data()),
             static_cast<uint32_t>(message.b.size()));
    t->flush();
  }

  static hybrec::testing::TempDir* dir_;
  static ServedRun* served_;
  static ThriftServer* server_;
};

hybrec::testing::TempDir* ThriftServing::dir_ = nullptr;
ServedRun* ThriftServing::served_ = nullptr;
ThriftServer* ThriftServing::server_ = nullptr;

TEST_F(ThriftServing, HealthSaysTheWireVersionTheMatrixAndTheCatalogue) {
  wire::Connection c(address());
  EXPECT_EQ(c.health().wire_version, 1);
  EXPECT_EQ(c.health().num_items, 200);
  EXPECT_EQ(c.health().snapshot_version, served_->health().snapshot_version);
  EXPECT_GE(c.health().snapshot_age_s, 0.0);
  EXPECT_EQ(c.health().last_error, "");
}

TEST_F(ThriftServing, RecommendAnswersWhatTheLibraryAnswersWithTitles) {
  ASSERT_FALSE(first_title().empty()) << "the synthetic catalogue has no texts";
  wire::Connection c(address());
  for (const RecommendRequest& r : mixed_requests()) {
    wire::RecommendReply got;
    c.client().recommend(got, to_wire_request(r));
    SCOPED_TRACE("user " + std::to_string(r.user) + ", query '" + r.query + "'");
    expect_same(got, served_->recommender().recommend({r})[0]);
  }
}

TEST_F(ThriftServing, RecommendBatchAnswersWhatTheLibraryAnswersForTheBatch) {
  const std::vector<RecommendRequest> rs = mixed_requests();
  std::vector<wire::RecommendRequest> batch;
  for (const RecommendRequest& r : rs) batch.push_back(to_wire_request(r));
  wire::Connection c(address());
  std::vector<wire::RecommendReply> got;
  c.client().recommend_batch(got, batch);
  const std::vector<RecommendReply> want = served_->recommender().recommend(rs);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    expect_same(got[i], want[i]);
  }
  c.client().recommend_batch(got, {});
  EXPECT_TRUE(got.empty());
}

TEST_F(ThriftServing, BadRequestsAreTypedNameTheProblemAndTheServerKeepsAnswering) {
  wire::Connection c(address());
  const auto expect_bad = [&](const RecommendRequest& r, const std::string& words) {
    wire::RecommendReply reply;
    const wire::ServingError e = error_of([&] { c.client().recommend(reply, to_wire_request(r)); });
    EXPECT_EQ(e.code, wire::ErrorCode::BAD_REQUEST) << words;
    EXPECT_NE(e.message.find(words), std::string::npos) << e.message;
  };
  RecommendRequest r;
  r.k = 0;
  expect_bad(r, "k = 0");
  r.k = 201;
  expect_bad(r, "k = 201");
  r.k = 10;
  r.recent_items = {5, 999};
  expect_bad(r, "recent item 999 is not an item of the catalogue");
  r.recent_items = {};
  r.exclude_items = {-5};
  expect_bad(r, "excluded item -5");

  std::vector<wire::RecommendRequest> batch(kMaxBatch + 1, to_wire_request(RecommendRequest{}));
  std::vector<wire::RecommendReply> replies;
  wire::ServingError e = error_of([&] { c.client().recommend_batch(replies, batch); });
  EXPECT_EQ(e.code, wire::ErrorCode::BAD_REQUEST);
  EXPECT_NE(e.message.find("9 requests in one batch; this server takes at most 8"),
            std::string::npos)
      << e.message;
  batch.resize(3);
  batch[1].__set_exclude_items({4000});
  e = error_of([&] { c.client().recommend_batch(replies, batch); });
  EXPECT_EQ(e.code, wire::ErrorCode::BAD_REQUEST);
  EXPECT_NE(e.message.find("request 1: excluded item 4000"), std::string::npos) << e.message;

  wire::RecommendReply good;
  c.client().recommend(good, to_wire_request(RecommendRequest{}));
  EXPECT_EQ(good.items.size(), 10u);
}

TEST_F(ThriftServing, MissingFieldsAndArgumentsAreBadRequestsNamingThem) {
  using golden::kBool;
  using golden::kCall;
  using golden::kI64;
  using golden::kList;
  using golden::kStruct;
  wire::Connection c(address());
  wire::RecommendReply reply;
  std::vector<wire::RecommendReply> replies;

  golden::Golden no_k;
  no_k.message("recommend", kCall).field(kStruct, 1).field(kBool, 5).u8(1).stop().stop();
  send_raw(c, no_k);
  wire::ServingError e = error_of([&] { c.client().recv_recommend(reply); });
  EXPECT_EQ(e.code, wire::ErrorCode::BAD_REQUEST);
  EXPECT_EQ(e.message, "recommend: request.k is missing");

  golden::Golden second_without_exclude_seen;
  second_without_exclude_seen.message("recommend_batch", kCall)
      .field(kList, 1)
      .u8(kStruct)
      .i32(2)
      .field(kI64, 4)
      .i64(3)
      .field(kBool, 5)
      .u8(0)
      .stop()
      .field(kI64, 4)
      .i64(3)
      .stop()
      .stop();
  send_raw(c, second_without_exclude_seen);
  e = error_of([&] { c.client().recv_recommend_batch(replies); });
  EXPECT_EQ(e.code, wire::ErrorCode::BAD_REQUEST);
  EXPECT_EQ(e.message, "recommend_batch: requests[1].exclude_seen is missing");

  golden::Golden no_argument;
  no_argument.message("recommend", kCall).stop();
  send_raw(c, no_argument);
  e = error_of([&] { c.client().recv_recommend(reply); });
  EXPECT_EQ(e.code, wire::ErrorCode::BAD_REQUEST);
  EXPECT_EQ(e.message, "recommend: the argument 'request' is missing");

  c.client().recommend(reply, to_wire_request(RecommendRequest{}));
  EXPECT_EQ(reply.items.size(), 10u);
}

TEST_F(ThriftServing, TheObserverIsToldEachCallsOutcome) {
  // A server of its own, so no other test's calls are counted.
  std::atomic<int64_t> counts[3] = {};
  ThriftServerOptions t;
  t.observer = [&](double seconds, int outcome) {
    EXPECT_GE(seconds, 0.0);
    ++counts[outcome];
  };
  ThriftServer observed(*served_, t);
  wire::Connection c(wire::Address{"127.0.0.1", observed.port()});  // health: not told
  wire::RecommendReply reply;
  c.client().recommend(reply, to_wire_request(RecommendRequest{}));
  RecommendRequest zero;
  zero.k = 0;
  error_of([&] { c.client().recommend(reply, to_wire_request(zero)); });
  std::vector<wire::RecommendReply> replies;
  c.client().recommend_batch(replies, {to_wire_request(RecommendRequest{})});
  observed.stop();  // waits for the workers: every call's report is in
  EXPECT_EQ(counts[kCallOk].load(), 2);
  EXPECT_EQ(counts[kCallBadRequest].load(), 1);
  EXPECT_EQ(counts[kCallError].load(), 0);
}

TEST_F(ThriftServing, TheRecommendCommandPrintsTheTableWithTitles) {
  RecommendRequest r;
  r.user = 7;
  r.k = 5;
  r.exclude_seen = false;
  const RecommendReply want = served_->recommender().recommend({r})[0];
  const auto out = run_command(kBin + " recommend" + serve_flag() +
                               " --user 7 -k 5 --exclude-seen 0 --title-width 24");
  ASSERT_EQ(out.status, 0) << out.output;
  EXPECT_NE(out.output.find("user 7, 5 items, item matrix v"), std::string::npos) << out.output;
  EXPECT_NE(out.output.find("rank"), std::string::npos) << out.output;
  std::size_t at = 0;
  for (std::size_t i = 0; i < want.items.size(); ++i) {
    const std::string& title = served_->title(want.items[i].item);
    // The table's cell: the title's first 21 characters then "..." when
    // longer than 24 (the synthetic titles are ASCII).
    const std::string cell = title.size() <= 24 ? title : title.substr(0, 21) + "...";
    at = out.output.find(cell, at);
    ASSERT_NE(at, std::string::npos) << "rank " << i + 1 << " '" << cell << "' in\n" << out.output;
    EXPECT_NE(out.output.find(std::to_string(want.items[i].item) + "  " + cell), std::string::npos)
        << out.output;
  }

  const auto json =
      run_command(kBin + " recommend" + serve_flag() + " --user 7 -k 5 --exclude-seen 0 --json");
  ASSERT_EQ(json.status, 0) << json.output;
  EXPECT_EQ(json.output.rfind("{\"user\": 7, \"new_user\": false, \"snapshot_version\": ", 0), 0u)
      << json.output;
  EXPECT_NE(json.output.find("{\"rank\": 1, \"item\": " + std::to_string(want.items[0].item) +
                             ", \"title\": \"" + served_->title(want.items[0].item) + "\""),
            std::string::npos)
      << json.output;
}

TEST_F(ThriftServing, TheRecommendCommandNamesARefusedRequest) {
  const auto out = run_command(kBin + " recommend" + serve_flag() + " --items 3,999");
  EXPECT_EQ(out.status, 1) << out.output;
  EXPECT_NE(out.output.find("refused: BAD_REQUEST: recommend: recent item 999 is not an item"),
            std::string::npos)
      << out.output;
}

TEST_F(ThriftServing, TheRecommendCommandNamesAnUnreachableServer) {
  // A port nothing listens on: bound, then released.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  const std::string where = "127.0.0.1:" + std::to_string(port);
  const auto out = run_command(kBin + " recommend --serve " + where + " --user 1");
  EXPECT_EQ(out.status, 1) << out.output;
  EXPECT_NE(out.output.find("cannot reach the recommender at " + where), std::string::npos)
      << out.output;

  const auto bad = run_command(kBin + " recommend --serve localhost --user 1");
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_NE(bad.output.find("address 'localhost' is not HOST:PORT"), std::string::npos)
      << bad.output;
}

TEST_F(ThriftServing, TheRecommendCommandNamesAServerThatIsNotTheThriftPort) {
  // Something else on the port: an HTTP server's answer to bytes it does
  // not understand.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::thread http([fd] {
    const int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return;
    char request[256];
    if (::recv(c, request, sizeof request, 0) > 0) {
      const std::string reply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
      ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    }
    ::close(c);
  });
  const std::string where = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const auto out = run_command(kBin + " recommend --serve " + where + " --timeout-s 5");
  http.join();
  ::close(fd);
  EXPECT_EQ(out.status, 1) << out.output;
  EXPECT_NE(out.output.find("the server at " + where +
                            " did not answer health() as recommender.thrift says (is it the "
                            "Thrift port of `hybrec serve`?)"),
            std::string::npos)
      << out.output;
}

TEST_F(ThriftServing, ATakenPortIsRefusedNamingIt) {
  ThriftServerOptions t;
  t.port = server_->port();
  try {
    ThriftServer second(*served_, t);
    ADD_FAILURE() << "a second server bound port " << t.port;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(t.port)),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace hybrec::serving
