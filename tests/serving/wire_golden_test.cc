// Golden bytes of the recommender's wire contract (recommender.thrift,
// WIRE_VERSION 1, with the optional fields added since that older peers
// skip: ScoredItem.new_item, the explain fields), built by hand from the
// Thrift binary protocol spec (tests/ps/golden_bytes.h): the generated
// client must send exactly these requests, and the server's processor must
// answer with exactly these replies and errors. Renumbering a field,
// changing a type or reordering arguments fails here: bump WIRE_VERSION and
// update these bytes on purpose.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "ps/golden_bytes.h"
#include "recommender_constants.h"
#include "serving/recommender.h"
#include "serving/thrift/handler.h"
#include "serving/thrift/processor.h"
#include "serving/thrift/wire_convert.h"

namespace hybrec::serving {
namespace {

using namespace hybrec::ps::golden;  // NOLINT: the byte builder's vocabulary

struct Recorder {
  std::shared_ptr<at::transport::TMemoryBuffer> memory =
      std::make_shared<at::transport::TMemoryBuffer>();
  wire::RecommenderServiceClient client{std::make_shared<at::protocol::TBinaryProtocol>(
      std::make_shared<at::transport::TFramedTransport>(memory), 0, 0, true, true)};
  std::string bytes() { return memory->getBufferAsString(); }
};

void expect_bytes(const std::string& got, const std::string& want) {
  EXPECT_EQ(hex(got), hex(want));
}

wire::RecommendRequest full_request() {
  wire::RecommendRequest r;
  r.__set_user(42);
  r.__set_recent_items({3, 17});
  r.__set_query("space");
  r.__set_k(10);
  r.__set_exclude_seen(true);
  r.__set_exclude_items({5});
  r.__set_explain(true);
  r.__set_explain_k(2);
  return r;
}

Golden& full_request_fields(Golden& g) {
  return g.field(kI64, 1)
      .i64(42)
      .field(kList, 2)
      .u8(kI64)
      .i32(2)
      .i64(3)
      .i64(17)
      .field(kString, 3)
      .str("space")
      .field(kI64, 4)
      .i64(10)
      .field(kBool, 5)
      .u8(1)
      .field(kList, 6)
      .u8(kI64)
      .i32(1)
      .i64(5)
      .field(kBool, 7)
      .u8(1)
      .field(kI64, 8)
      .i64(2)
      .stop();
}

// Only what the contract requires: the optional fields are not sent.
wire::RecommendRequest minimal_request() {
  wire::RecommendRequest r;
  r.__set_k(3);
  r.__set_exclude_seen(false);
  return r;
}

Golden& minimal_request_fields(Golden& g) {
  return g.field(kI64, 4).i64(3).field(kBool, 5).u8(0).stop();
}

// A reply of two items with values that floats and doubles hold exactly;
// the first explained (fields 7 and 8), the second not (neither sent).
RecommendReply example_reply() {
  RecommendReply r;
  r.items = {{17, 1.5f, 1.25f, 0.25f, 0.0f, true, "Space, again.", {"space", "stars"}},
             {3, 1.5f, -0.75f, 0.25f, 2.0f, false, "", {}}};
  r.new_user = true;
  r.snapshot_version = 7;
  return r;
}

const std::string& example_title(int64_t item) {
  static const std::string seventeen = "Star Wars", other;
  return item == 17 ? seventeen : other;
}

Golden& example_reply_struct(Golden& g) {
  return g.field(kList, 1)
      .u8(kStruct)
      .i32(2)
      .field(kI64, 1)
      .i64(17)
      .field(kString, 2)
      .str("Star Wars")
      .field(kDouble, 3)
      .dbl(1.5)
      .field(kDouble, 4)
      .dbl(1.25)
      .field(kDouble, 5)
      .dbl(0.25)
      .field(kDouble, 6)
      .dbl(0.0)
      .field(kString, 7)
      .str("Space, again.")
      .field(kList, 8)
      .u8(kString)
      .i32(2)
      .str("space")
      .str("stars")
      .stop()
      .field(kI64, 1)
      .i64(3)
      .field(kString, 2)
      .str("")
      .field(kDouble, 3)
      .dbl(1.5)
      .field(kDouble, 4)
      .dbl(-0.75)
      .field(kDouble, 5)
      .dbl(0.25)
      .field(kDouble, 6)
      .dbl(2.0)
      .stop()
      .field(kBool, 2)
      .u8(1)
      .field(kI64, 3)
      .i64(7)
      .stop();
}

Golden& error_result(Golden& g, int32_t code, const std::string& message) {
  return g.field(kStruct, 1).field(kI32, 1).i32(code).field(kString, 2).str(message).stop().stop();
}

// Answers every call with fixed values, or fails as told.
class FixedHandler : public wire::RecommenderServiceIf {
 public:
  enum class Fail { kNone, kBadRequest, kCrash };
  Fail fail = Fail::kNone;

  void health(wire::Health& h) override {
    ServeHealth s;
    s.snapshot_version = 7;
    s.snapshot_age_s = 2.5;
    s.num_items = 200;
    s.rebuilds = 3;
    s.rebuild_failures = 1;
    s.last_error = "down";
    h = to_wire(s);
  }
  void recommend(wire::RecommendReply& reply, const wire::RecommendRequest&) override {
    if (fail == Fail::kBadRequest) {
      throw serving_error(wire::ErrorCode::BAD_REQUEST, "recommend: request 0: k = 0");
    }
    if (fail == Fail::kCrash) throw std::runtime_error("rows unreachable");
    reply = to_wire(example_reply(), example_title);
  }
  void recommend_batch(std::vector<wire::RecommendReply>& replies,
                       const std::vector<wire::RecommendRequest>& requests) override {
    replies.clear();
    for (std::size_t i = 0; i < requests.size(); ++i) {
      replies.push_back(to_wire(example_reply(), example_title));
    }
  }
};

struct Served {
  std::shared_ptr<FixedHandler> handler = std::make_shared<FixedHandler>();
  std::vector<int> outcomes;
  RecommenderProcessor processor{handler, 4, [this](double seconds, int outcome) {
                                   EXPECT_GE(seconds, 0.0);
                                   outcomes.push_back(outcome);
                                 }};
  std::string call(const std::string& framed_request) {
    return process_with(processor, framed_request);
  }
};

TEST(ServingWireGolden, VersionIsOne) { EXPECT_EQ(wire::g_recommender_constants.WIRE_VERSION, 1); }

TEST(ServingWireGolden, Requests) {
  {
    Recorder r;
    r.client.send_recommend(full_request());
    Golden g;
    g.message("recommend", kCall).field(kStruct, 1);
    full_request_fields(g).stop();
    expect_bytes(r.bytes(), g.framed());
  }
  {
    Recorder r;
    r.client.send_recommend(minimal_request());
    Golden g;
    g.message("recommend", kCall).field(kStruct, 1);
    minimal_request_fields(g).stop();
    expect_bytes(r.bytes(), g.framed());
  }
  {
    Recorder r;
    r.client.send_recommend_batch({full_request(), minimal_request()});
    Golden g;
    g.message("recommend_batch", kCall).field(kList, 1).u8(kStruct).i32(2);
    full_request_fields(g);
    minimal_request_fields(g).stop();
    expect_bytes(r.bytes(), g.framed());
  }
  {
    Recorder r;
    r.client.send_health();
    Golden g;
    g.message("health", kCall).stop();
    expect_bytes(r.bytes(), g.framed());
  }
}

TEST(ServingWireGolden, Replies) {
  Served s;
  Golden call;
  call.message("recommend", kCall).field(kStruct, 1);
  minimal_request_fields(call).stop();
  Golden want;
  want.message("recommend", kReply).field(kStruct, 0);
  example_reply_struct(want).stop();
  expect_bytes(s.call(call.framed()), want.framed());

  Golden batch;
  batch.message("recommend_batch", kCall).field(kList, 1).u8(kStruct).i32(1);
  minimal_request_fields(batch).stop();
  Golden batch_want;
  batch_want.message("recommend_batch", kReply).field(kList, 0).u8(kStruct).i32(1);
  example_reply_struct(batch_want).stop();
  expect_bytes(s.call(batch.framed()), batch_want.framed());

  Golden health;
  health.message("health", kCall).stop();
  Golden health_want;
  health_want.message("health", kReply)
      .field(kStruct, 0)
      .field(kI32, 1)
      .i32(1)
      .field(kI64, 2)
      .i64(7)
      .field(kDouble, 3)
      .dbl(2.5)
      .field(kI64, 4)
      .i64(200)
      .field(kI64, 5)
      .i64(3)
      .field(kI64, 6)
      .i64(1)
      .field(kString, 7)
      .str("down")
      .stop()
      .stop();
  expect_bytes(s.call(health.framed()), health_want.framed());
  EXPECT_EQ(s.outcomes, (std::vector<int>{kCallOk, kCallOk}));  // health is not observed
}

TEST(ServingWireGolden, ErrorsAreTypedAndObserved) {
  Served s;
  Golden call;
  call.message("recommend", kCall).field(kStruct, 1);
  minimal_request_fields(call).stop();

  s.handler->fail = FixedHandler::Fail::kBadRequest;
  Golden bad;
  bad.message("recommend", kReply);
  error_result(bad, 1, "recommend: request 0: k = 0");
  expect_bytes(s.call(call.framed()), bad.framed());

  // Any other exception is INTERNAL with its message, not an untyped
  // TApplicationException.
  s.handler->fail = FixedHandler::Fail::kCrash;
  Golden crash;
  crash.message("recommend", kReply);
  error_result(crash, 2, "recommend: rows unreachable");
  expect_bytes(s.call(call.framed()), crash.framed());

  EXPECT_EQ(s.outcomes, (std::vector<int>{kCallBadRequest, kCallError}));
}

TEST(ServingWireGolden, ACallWithoutItsArgumentIsABadRequestNamingIt) {
  Served s;
  Golden call;
  call.message("recommend", kCall).stop();
  Golden want;
  want.message("recommend", kReply);
  error_result(want, 1, "recommend: the argument 'request' is missing");
  expect_bytes(s.call(call.framed()), want.framed());

  Golden batch;
  batch.message("recommend_batch", kCall).stop();
  Golden batch_want;
  batch_want.message("recommend_batch", kReply);
  error_result(batch_want, 1, "recommend_batch: the argument 'requests' is missing");
  expect_bytes(s.call(batch.framed()), batch_want.framed());
  EXPECT_EQ(s.outcomes, (std::vector<int>{kCallBadRequest, kCallBadRequest}));
}

// A request as the server sees it: read from its bytes, with presence as
// they have it.
wire::RecommendRequest read_back(Golden& fields) {
  auto memory = std::make_shared<at::transport::TMemoryBuffer>();
  memory->write(reinterpret_cast<const uint8_t*>(fields.b.data()),
                static_cast<uint32_t>(fields.b.size()));
  at::protocol::TBinaryProtocol in(memory);
  wire::RecommendRequest r;
  r.read(&in);
  return r;
}

std::string bad_request_message(const wire::RecommendRequest& r, const std::string& where) {
  try {
    from_wire(r, where);
  } catch (const BadRequest& e) {
    return e.what();
  }
  return "<accepted>";
}

// The processor's batch limit is 4 here.
TEST(ServingWireGolden, ABatchOverTheLimitIsRefusedBeforeItIsAllocated) {
  Served s;
  Golden five;
  five.message("recommend_batch", kCall).field(kList, 1).u8(kStruct).i32(5);
  for (int i = 0; i < 5; ++i) minimal_request_fields(five);
  five.stop();
  Golden want;
  want.message("recommend_batch", kReply);
  error_result(want, 1, "recommend_batch: 5 requests in one batch; this server takes at most 4");
  expect_bytes(s.call(five.framed()), want.framed());
  // A million declared, none sent: the frame ends while they are skipped,
  // and nothing was allocated for them.
  Golden million;
  million.message("recommend_batch", kCall).field(kList, 1).u8(kStruct).i32(1000000).stop();
  EXPECT_THROW(s.call(million.framed()), at::transport::TTransportException);
  EXPECT_EQ(s.outcomes, (std::vector<int>{kCallBadRequest}));
}

TEST(ServingWireGolden, ARequestWithoutARequiredFieldNamesIt) {
  Golden no_k;
  no_k.field(kBool, 5).u8(1).stop();
  EXPECT_EQ(bad_request_message(read_back(no_k), "requests[2]"), "requests[2].k is missing");
  Golden no_exclude_seen;
  no_exclude_seen.field(kI64, 4).i64(4).stop();
  EXPECT_EQ(bad_request_message(read_back(no_exclude_seen), "request"),
            "request.exclude_seen is missing");
  // A field of the wrong type is skipped by the reader: missing too.
  Golden k_as_string;
  k_as_string.field(kString, 4).str("10").field(kBool, 5).u8(1).stop();
  EXPECT_EQ(bad_request_message(read_back(k_as_string), "request"), "request.k is missing");

  Golden negative_user;
  negative_user.field(kI64, 1).i64(-7);
  minimal_request_fields(negative_user);
  EXPECT_EQ(bad_request_message(read_back(negative_user), "request"),
            "request.user = -7 is not a user id (leave it out for a visitor without an account)");

  // The optional fields mean "none" when absent.
  Golden minimal;
  minimal_request_fields(minimal);
  const RecommendRequest r = from_wire(read_back(minimal), "request");
  EXPECT_EQ(r.user, -1);
  EXPECT_TRUE(r.recent_items.empty());
  EXPECT_TRUE(r.query.empty());
  EXPECT_TRUE(r.exclude_items.empty());
  EXPECT_EQ(r.k, 3);
  EXPECT_FALSE(r.exclude_seen);
  EXPECT_FALSE(r.explain);
  EXPECT_EQ(r.explain_k, 3);

  Golden full;
  full_request_fields(full);
  const RecommendRequest f = from_wire(read_back(full), "request");
  EXPECT_TRUE(f.explain);
  EXPECT_EQ(f.explain_k, 2);
}

TEST(ServingWireGolden, UnknownMethodsAreThriftsUnknownMethod) {
  Served s;
  Golden call;
  call.message("recommendx", kCall).stop();
  Golden want;
  want.message("recommendx", 3)  // T_EXCEPTION
      .field(kString, 1)
      .str("Invalid method name: 'recommendx'")
      .field(kI32, 2)
      .i32(1)  // TApplicationException::UNKNOWN_METHOD
      .stop();
  expect_bytes(s.call(call.framed()), want.framed());
  EXPECT_TRUE(s.outcomes.empty());
}

}  // namespace
}  // namespace hybrec::serving
