// The server's connection layer: idle connections cost no worker, idle ones
// are dropped, and the bind rule for unauthenticated servers.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>

#include <chrono>
#include <vector>

#include "hybrec/kernels/error.h"
#include "parameter_server/client/client.h"
#include "parameter_server/wire/errors.h"
#include "ps_testing.h"
#include "server_harness.h"

namespace hybrec::ps::testing {
namespace {

// Far more open, silent connections than workers: with a thread per
// connection (the old TThreadedServer, 64 of them) health waited for an idle
// timeout; now it must answer. How fast it answers is measured in
// benchmarks/ps/idle_connections.cc, not asserted here.
TEST(PsServerConnections, HealthAnswersWhileAThousandIdleConnectionsAreOpen) {
  constexpr int kIdle = 1000;
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur < 2 * kIdle + 256) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 2 * kIdle + 256);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
  }
  if (limit.rlim_cur < 2 * kIdle + 64) GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low";

  ServerOptions options;
  options.threads = 4;
  ServingServer server(options);
  std::vector<int> idle;
  for (int i = 0; i < kIdle; ++i) {
    const int fd = connect_loopback(server.port());
    ASSERT_GE(fd, 0) << "connection " << i;
    idle.push_back(fd);
  }
  ClientOptions client_options;
  client_options.connect_timeout_ms = 10000;
  client_options.io_timeout_ms = 10000;
  client_options.max_attempts = 1;
  PsClient client({Endpoint{"127.0.0.1", server.port()}}, client_options);
  const auto health = client.health();
  ASSERT_EQ(health.size(), 1u);
  EXPECT_TRUE(health[0].reachable) << health[0].error;
  // And a real request, not just health, goes through a worker.
  client.create_table(test_spec("items", 4, Optimizer::kSgd));
  const int64_t key = 3;
  float row[4];
  client.pull("items", &key, 1, 4, row).wait();
  for (int fd : idle) ::close(fd);
}

TEST(PsServerConnections, IdleConnectionIsDropped) {
  ServerOptions options;
  options.idle_timeout_ms = 200;
  ServingServer server(options);
  const int fd = connect_loopback(server.port());
  ASSERT_GE(fd, 0);
  // The server closes it: poll sees the end of the stream (generous bound).
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "not dropped within 10 s";
  char byte;
  EXPECT_EQ(::recv(fd, &byte, 1, 0), 0);
  ::close(fd);
}

TEST(PsServerConnections, ConnectionStalledMidFrameIsDropped) {
  ServerOptions options;
  options.idle_timeout_ms = 200;
  ServingServer server(options);
  const int fd = connect_loopback(server.port());
  ASSERT_GE(fd, 0);
  const unsigned char half_frame[] = {0, 0, 1, 0, 0x80, 0x01};  // 256-byte frame, 2 bytes sent
  ASSERT_EQ(::send(fd, half_frame, sizeof(half_frame), 0),
            static_cast<ssize_t>(sizeof(half_frame)));
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "not dropped within 10 s";
  char byte;
  EXPECT_LE(::recv(fd, &byte, 1, 0), 0);
  ::close(fd);
}

TEST(PsServerConnections, NonLoopbackBindNeedsAuthenticationOrInsecure) {
  ServerOptions options;
  options.bind_address = "0.0.0.0";
  try {
    PsServer refused(options);
    FAIL() << "bound 0.0.0.0 without authentication";
  } catch (const hybrec::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("--tls-cert"), std::string::npos) << message;
    EXPECT_NE(message.find("--auth-token-file"), std::string::npos) << message;
    EXPECT_NE(message.find("--insecure"), std::string::npos) << message;
  }
  options.insecure = true;
  PsServer insecure(options);
  EXPECT_GT(insecure.port(), 0);
}

TEST(PsServerConnections, LoopbackAddressesAreRecognised) {
  EXPECT_TRUE(is_loopback_address("127.0.0.1"));
  EXPECT_TRUE(is_loopback_address("127.1.2.3"));
  EXPECT_TRUE(is_loopback_address("::1"));
  EXPECT_TRUE(is_loopback_address("localhost"));
  EXPECT_FALSE(is_loopback_address("0.0.0.0"));
  EXPECT_FALSE(is_loopback_address("10.0.0.1"));
  EXPECT_FALSE(is_loopback_address(""));
}

}  // namespace
}  // namespace hybrec::ps::testing
