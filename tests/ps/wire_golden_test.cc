// Golden bytes of the wire contract (ps.thrift, WIRE_VERSION 3).
//
// The expected bytes are built here from the Thrift binary protocol spec
// (golden_bytes.h), field by field as ps.thrift declares them. The generated
// client must produce exactly these requests and the generated processor
// must parse them and answer with exactly these replies; the server's own
// processor (presence checks, direct pull replies) must answer with the
// generated processor's bytes. Renumbering a field, changing a type or
// reordering arguments fails here: bump WIRE_VERSION and update these bytes
// on purpose.
#include <gtest/gtest.h>

#include <string>

#include "golden_bytes.h"
#include "parameter_server/server/processor.h"
#include "parameter_server/server/service.h"
#include "parameter_server/wire/wire_convert.h"
#include "ps_constants.h"

namespace hybrec::ps {
namespace {

using namespace golden;  // NOLINT: the byte builder's vocabulary

// A framed client whose requests land in a memory buffer.
struct Recorder {
  std::shared_ptr<at::transport::TMemoryBuffer> memory =
      std::make_shared<at::transport::TMemoryBuffer>();
  std::shared_ptr<at::transport::TFramedTransport> framed =
      std::make_shared<at::transport::TFramedTransport>(memory);
  wire::ParameterServerClient client{
      std::make_shared<at::protocol::TBinaryProtocol>(framed, 0, 0, true, true)};
  std::string bytes() { return memory->getBufferAsString(); }
};

void expect_bytes(const std::string& got, const std::string& want) {
  EXPECT_EQ(hex(got), hex(want));
}

wire::TableSpec example_spec() {
  wire::TableSpec s;
  s.__set_name("items");
  s.__set_dim(64);
  s.__set_optimizer(wire::Optimizer::ROWWISE_ADAGRAD);
  s.__set_learning_rate(0.05);
  s.__set_eps(1e-8);
  s.__set_beta1(0.9);
  s.__set_beta2(0.999);
  s.__set_weight_decay(0.0);
  s.__set_init_scale(0.01);
  s.__set_seed(42);
  s.__set_num_shards(2);
  s.__set_routing("jump");
  s.__set_max_rows(1000);
  s.__set_admit_after(3);
  s.__set_ttl_s(60.0);
  return s;
}

Golden& spec_fields(Golden& g) {
  return g.field(kString, 1)
      .str("items")
      .field(kI32, 2)
      .i32(64)
      .field(kI32, 3)
      .i32(2)
      .field(kDouble, 4)
      .dbl(0.05)
      .field(kDouble, 5)
      .dbl(1e-8)
      .field(kDouble, 6)
      .dbl(0.9)
      .field(kDouble, 7)
      .dbl(0.999)
      .field(kDouble, 8)
      .dbl(0.0)
      .field(kDouble, 9)
      .dbl(0.01)
      .field(kI64, 10)
      .i64(42)
      .field(kI32, 11)
      .i32(2)
      .field(kString, 12)
      .str("jump")
      .field(kI64, 13)
      .i64(1000)
      .field(kI32, 14)
      .i32(3)
      .field(kDouble, 15)
      .dbl(60.0)
      .stop();
}

constexpr int64_t kIncarnation = 0x0123456789abcdefLL;
const std::string kNonce(32, '\x5a');  // auth nonces and proofs are 32 raw bytes

Golden& ack(Golden& g) {
  return g.field(kStruct, 0).field(kI64, 1).i64(kIncarnation).stop().stop();
}

TEST(WireGolden, VersionIsThree) { EXPECT_EQ(wire::g_ps_constants.WIRE_VERSION, 3); }

TEST(WireGolden, Requests) {
  {
    Recorder r;
    r.client.send_create_table(example_spec());
    Golden g;
    g.message("create_table", kCall).field(kStruct, 1);
    spec_fields(g).stop();
    expect_bytes(r.bytes(), g.framed());
  }
  {
    Recorder r;
    r.client.send_pull("items", kKeys, wire::PullMode::READ_ONLY);
    Golden g;
    g.message("pull", kCall)
        .field(kString, 1)
        .str("items")
        .field(kString, 2)
        .str(kKeys)
        .field(kI32, 3)
        .i32(2)
        .stop();
    expect_bytes(r.bytes(), g.framed());
  }
  {
    Recorder r;
    r.client.send_push("items", kKeys, kRows, 77, 5);
    Golden g;
    g.message("push", kCall)
        .field(kString, 1)
        .str("items")
        .field(kString, 2)
        .str(kKeys)
        .field(kString, 3)
        .str(kRows)
        .field(kI64, 4)
        .i64(77)
        .field(kI64, 5)
        .i64(5)
        .stop();
    expect_bytes(r.bytes(), g.framed());
  }
  {
    Recorder r;
    r.client.send_pull("items", kKeys, wire::PullMode::WITH_STATE);
    Golden g;
    g.message("pull", kCall)
        .field(kString, 1)
        .str("items")
        .field(kString, 2)
        .str(kKeys)
        .field(kI32, 3)
        .i32(3)
        .stop();
    expect_bytes(r.bytes(), g.framed());
  }
  {
    Recorder r;
    r.client.send_push_delta("items", kKeys, kRows, 77, 6);
    Golden g;
    g.message("push_delta", kCall)
        .field(kString, 1)
        .str("items")
        .field(kString, 2)
        .str(kKeys)
        .field(kString, 3)
        .str(kRows)
        .field(kI64, 4)
        .i64(77)
        .field(kI64, 5)
        .i64(6)
        .stop();
    expect_bytes(r.bytes(), g.framed());
  }
  {
    Recorder r;
    r.client.send_assign("items", kKeys, kRows);
    Golden g;
    g.message("assign", kCall)
        .field(kString, 1)
        .str("items")
        .field(kString, 2)
        .str(kKeys)
        .field(kString, 3)
        .str(kRows)
        .stop();
    expect_bytes(r.bytes(), g.framed());
  }
  for (const char* method : {"save", "load"}) {
    Recorder r;
    if (std::string(method) == "save")
      r.client.send_save("run-1", 7);
    else
      r.client.send_load("run-1", 7);
    Golden g;
    g.message(method, kCall).field(kString, 1).str("run-1").field(kI64, 2).i64(7).stop();
    expect_bytes(r.bytes(), g.framed());
  }
  {
    Recorder r;
    r.client.send_prune("run-1", {3, 9});
    Golden g;
    g.message("prune", kCall)
        .field(kString, 1)
        .str("run-1")
        .field(kList, 2)
        .u8(kI64)
        .i32(2)
        .i64(3)
        .i64(9)
        .stop();
    expect_bytes(r.bytes(), g.framed());
  }
  {
    Recorder r;
    r.client.send_health();
    Golden g;
    g.message("health", kCall).stop();
    expect_bytes(r.bytes(), g.framed());
  }
  {
    Recorder r;
    r.client.send_auth_begin(kNonce);
    Golden g;
    g.message("auth_begin", kCall).field(kString, 1).str(kNonce).stop();
    expect_bytes(r.bytes(), g.framed());
  }
  {
    Recorder r;
    r.client.send_auth_finish(kNonce);
    Golden g;
    g.message("auth_finish", kCall).field(kString, 1).str(kNonce).stop();
    expect_bytes(r.bytes(), g.framed());
  }
}

// Answers with fixed values, or a PsError for table "missing".
class FixedHandler : public wire::ParameterServerNull {
 public:
  void pull(wire::PullReply& reply, const std::string& table, const std::string& keys,
            wire::PullMode::type mode) override {
    if (table == "missing") {
      wire::PsError e;
      e.__set_code(wire::ErrorCode::UNKNOWN_TABLE);
      e.__set_message("unknown table 'missing'");
      throw e;
    }
    EXPECT_EQ(keys, kKeys);
    EXPECT_EQ(mode, wire::PullMode::TRAIN);
    reply.__set_incarnation(kIncarnation);
    reply.__set_rows(kRows);
  }
  void push(wire::Ack& a, const std::string&, const std::string&, const std::string&, int64_t,
            int64_t) override {
    a.__set_incarnation(kIncarnation);
  }
  void push_delta(wire::Ack& a, const std::string&, const std::string& keys,
                  const std::string& deltas, int64_t client_id, int64_t sequence) override {
    EXPECT_EQ(keys, kKeys);
    EXPECT_EQ(deltas, kRows);
    EXPECT_EQ(client_id, 3);
    EXPECT_EQ(sequence, 4);
    a.__set_incarnation(kIncarnation);
  }
  void auth_begin(std::string& challenge, const std::string& nonce) override {
    EXPECT_EQ(nonce, kNonce);
    challenge = kNonce + kNonce;
  }
  void auth_finish(const std::string&) override {
    wire::PsError e;
    e.__set_code(wire::ErrorCode::UNAUTHENTICATED);
    e.__set_message("wrong token");
    throw e;
  }
  void health(wire::Health& h) override {
    h.__set_wire_version(3);
    h.__set_shard_index(2);
    h.__set_num_shards(4);
    h.__set_serving(true);
    h.__set_incarnation(kIncarnation);
  }
  void stats(wire::ServerStats& s) override {
    s.__set_shard_index(1);
    s.__set_num_shards(2);
    wire::TableStats t;
    t.__set_spec(example_spec());
    t.__set_rows(3);
    t.__set_bytes(4096);
    s.__set_tables({t});
    s.__set_pull_requests(5);
    s.__set_push_requests(6);
    s.__set_keys_pulled(7);
    s.__set_keys_pushed(8);
    s.__set_rejected_requests(9);
    s.__set_last_checkpoint_version(-1);
    s.__set_uptime_s(1.5);
    s.__set_incarnation(kIncarnation);
    s.__set_rows_evicted(10);
    s.__set_pushes_unadmitted(11);
  }
};

std::string process(const std::string& framed_request) {
  wire::ParameterServerProcessor processor(std::make_shared<FixedHandler>());
  return process_with(processor, framed_request);
}

Golden pull_call(const std::string& table, const std::string& keys, int32_t mode = 1) {
  Golden call;
  call.message("pull", kCall)
      .field(kString, 1)
      .str(table)
      .field(kString, 2)
      .str(keys)
      .field(kI32, 3)
      .i32(mode)
      .stop();
  return call;
}

TEST(WireGolden, Replies) {
  {
    Golden reply;
    reply.message("pull", kReply)
        .field(kStruct, 0)
        .field(kI64, 1)
        .i64(kIncarnation)
        .field(kString, 2)
        .str(kRows)
        .stop()
        .stop();
    expect_bytes(process(pull_call("items", kKeys).framed()), reply.framed());
  }
  {
    Golden reply;
    reply.message("pull", kReply)
        .field(kStruct, 1)
        .field(kI32, 1)
        .i32(1)
        .field(kString, 2)
        .str("unknown table 'missing'")
        .stop()
        .stop();
    expect_bytes(process(pull_call("missing", kKeys).framed()), reply.framed());
  }
  {
    Golden call;
    call.message("push", kCall)
        .field(kString, 1)
        .str("items")
        .field(kString, 2)
        .str(kKeys)
        .field(kString, 3)
        .str(kRows)
        .field(kI64, 4)
        .i64(1)
        .field(kI64, 5)
        .i64(1)
        .stop();
    Golden reply;
    reply.message("push", kReply);
    ack(reply);
    expect_bytes(process(call.framed()), reply.framed());
  }
  {
    Golden call;
    call.message("push_delta", kCall)
        .field(kString, 1)
        .str("items")
        .field(kString, 2)
        .str(kKeys)
        .field(kString, 3)
        .str(kRows)
        .field(kI64, 4)
        .i64(3)
        .field(kI64, 5)
        .i64(4)
        .stop();
    Golden reply;
    reply.message("push_delta", kReply);
    ack(reply);
    expect_bytes(process(call.framed()), reply.framed());
  }
  {
    Golden call;
    call.message("auth_begin", kCall).field(kString, 1).str(kNonce).stop();
    Golden reply;
    reply.message("auth_begin", kReply).field(kString, 0).str(kNonce + kNonce).stop();
    expect_bytes(process(call.framed()), reply.framed());
  }
  {
    Golden call;
    call.message("auth_finish", kCall).field(kString, 1).str(kNonce).stop();
    Golden reply;
    reply.message("auth_finish", kReply)
        .field(kStruct, 1)
        .field(kI32, 1)
        .i32(13)
        .field(kString, 2)
        .str("wrong token")
        .stop()
        .stop();
    expect_bytes(process(call.framed()), reply.framed());
  }
  {
    Golden call;
    call.message("health", kCall).stop();
    Golden reply;
    reply.message("health", kReply)
        .field(kStruct, 0)
        .field(kI32, 1)
        .i32(3)
        .field(kI32, 2)
        .i32(2)
        .field(kI32, 3)
        .i32(4)
        .field(kBool, 4)
        .u8(1)
        .field(kI64, 5)
        .i64(kIncarnation)
        .stop()
        .stop();
    expect_bytes(process(call.framed()), reply.framed());
  }
  {
    Golden call;
    call.message("stats", kCall).stop();
    Golden reply;
    reply.message("stats", kReply)
        .field(kStruct, 0)
        .field(kI32, 1)
        .i32(1)
        .field(kI32, 2)
        .i32(2)
        .field(kList, 3)
        .u8(kStruct)
        .i32(1)
        .field(kStruct, 1);
    spec_fields(reply).field(kI64, 2).i64(3).field(kI64, 3).i64(4096).stop();
    reply.field(kI64, 4)
        .i64(5)
        .field(kI64, 5)
        .i64(6)
        .field(kI64, 6)
        .i64(7)
        .field(kI64, 7)
        .i64(8)
        .field(kI64, 8)
        .i64(9)
        .field(kI64, 9)
        .i64(-1)
        .field(kDouble, 10)
        .dbl(1.5)
        .field(kI64, 11)
        .i64(kIncarnation)
        .field(kI64, 12)
        .i64(10)
        .field(kI64, 13)
        .i64(11)
        .stop()
        .stop();
    expect_bytes(process(call.framed()), reply.framed());
  }
}

// The server's own processor writes pull replies straight into the
// nonblocking server's reply buffer, and answers everything else through its
// presence-checking path; its bytes must be the generated processor's, for
// results and for errors.
TEST(WireGolden, ServerProcessorRepliesAreTheGeneratedBytes) {
  auto service = std::make_shared<PsService>(ServiceOptions{});
  TableSpec spec;
  spec.name = "items";
  spec.dim = 3;  // row-wise Adagrad: [row | state] is 4 floats
  wire::Ack created;
  service->create_table(created, to_wire(spec));
  wire::ParameterServerProcessor generated(service);
  PsProcessor server(service);
  // The incarnation is the service's own, random: splice the reply bytes
  // of both processors, which must carry the same one.
  const std::string requests[] = {
      pull_call("items", kKeys).framed(),
      pull_call("missing", kKeys).framed(),
      pull_call("items", std::string(13, '\1')).framed(),
      pull_call("items", "").framed(),
      pull_call("items", kKeys, 3).framed(),  // WITH_STATE
      pull_call("items", kKeys, 9).framed(),  // no such mode
      Golden()
          .message("push_delta", kCall)
          .field(kString, 1)
          .str("items")
          .field(kString, 2)
          .str(kKeys)
          .field(kString, 3)
          .str(std::string(32, '\0'))
          .field(kI64, 4)
          .i64(0)
          .field(kI64, 5)
          .i64(0)
          .stop()
          .framed(),
      Golden()
          .message("push_delta", kCall)
          .field(kString, 1)
          .str("items")
          .field(kString, 2)
          .str(kKeys)
          .field(kString, 3)
          .str(std::string(24, '\0'))  // the row width: DIM_MISMATCH
          .field(kI64, 4)
          .i64(0)
          .field(kI64, 5)
          .i64(0)
          .stop()
          .framed(),
      Golden()
          .message("push", kCall)
          .field(kString, 1)
          .str("items")
          .field(kString, 2)
          .str(kKeys)
          .field(kString, 3)
          .str(std::string(24, '\0'))
          .field(kI64, 4)
          .i64(0)
          .field(kI64, 5)
          .i64(0)
          .stop()
          .framed(),
      Golden()
          .message("save", kCall)
          .field(kString, 1)
          .str("r")
          .field(kI64, 2)
          .i64(1)
          .stop()
          .framed(),
  };
  for (const std::string& request : requests) {
    EXPECT_EQ(hex(process_with(server, request, true)),
              hex(process_with(generated, request, true)));
    EXPECT_EQ(hex(process_with(server, request, false)),
              hex(process_with(generated, request, false)));
    // Behind bytes already in the buffer (the server's 4-byte frame
    // length), a reply, or a discarded one, keeps them.
    auto in_mem = std::make_shared<at::transport::TMemoryBuffer>(
        reinterpret_cast<uint8_t*>(const_cast<char*>(request.data())),
        static_cast<uint32_t>(request.size()));
    auto out_mem = std::make_shared<at::transport::TMemoryBuffer>();
    out_mem->write(reinterpret_cast<const uint8_t*>("LEN!"), 4);
    auto in = std::make_shared<at::protocol::TBinaryProtocol>(
        std::make_shared<at::transport::TFramedTransport>(in_mem), 0, 0, true, true);
    auto out = std::make_shared<at::protocol::TBinaryProtocol>(out_mem, 0, 0, true, true);
    ASSERT_TRUE(server.process(in, out, nullptr));
    EXPECT_EQ(hex(out_mem->getBufferAsString()),
              hex("LEN!" + process_with(generated, request, true)));
  }
  // And a reply buffer reused across requests stays byte-exact.
  auto in_mem = std::make_shared<at::transport::TMemoryBuffer>();
  for (int i = 0; i < 3; ++i)
    in_mem->write(reinterpret_cast<const uint8_t*>(requests[i % 2].data()),
                  static_cast<uint32_t>(requests[i % 2].size()));
  auto out_mem = std::make_shared<at::transport::TMemoryBuffer>();
  auto in = std::make_shared<at::protocol::TBinaryProtocol>(
      std::make_shared<at::transport::TFramedTransport>(in_mem), 0, 0, true, true);
  auto out = std::make_shared<at::protocol::TBinaryProtocol>(out_mem, 0, 0, true, true);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(server.process(in, out, nullptr));
  EXPECT_EQ(hex(out_mem->getBufferAsString()), hex(process_with(generated, requests[0], true) +
                                                   process_with(generated, requests[1], true) +
                                                   process_with(generated, requests[0], true)));
}

// A server with a token answers every call but health, on a connection that
// has not authenticated, with PsError UNAUTHENTICATED in field 1 of the
// method's result, which the generated client reads as that method's error.
TEST(WireGolden, UnauthenticatedCallsGetUnauthenticatedErrors) {
  auto service = std::make_shared<PsService>(ServiceOptions{});
  PsProcessor guarded(service, "a token of at least 16 bytes");
  const std::string message =
      "pull refused: this server requires token authentication (give the client the server's "
      "--auth-token-file)";
  Golden reply;
  reply.message("pull", kReply)
      .field(kStruct, 1)
      .field(kI32, 1)
      .i32(13)
      .field(kString, 2)
      .str(message)
      .stop()
      .stop();
  expect_bytes(process_with(guarded, pull_call("items", kKeys).framed()), reply.framed());

  Golden health;
  health.message("health", kCall).stop();
  Golden healthy;
  healthy.message("health", kReply)
      .field(kStruct, 0)
      .field(kI32, 1)
      .i32(3)
      .field(kI32, 2)
      .i32(0)
      .field(kI32, 3)
      .i32(1)
      .field(kBool, 4)
      .u8(1)
      .field(kI64, 5)
      .i64(service->incarnation())
      .stop()
      .stop();
  expect_bytes(process_with(guarded, health.framed()), healthy.framed());
}

}  // namespace
}  // namespace hybrec::ps
