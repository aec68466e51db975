// Authentication on the parameter-server port: the shared-secret token
// (challenge-response, never sent) and mutual TLS with certificates made by
// scripts/make-certs.sh.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSSLSocket.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>

#include "ParameterServer.h"
#include "hybrec/kernels/error.h"
#include "parameter_server/client/client.h"
#include "parameter_server/wire/auth_token.h"
#include "parameter_server/wire/errors.h"
#include "ps_testing.h"
#include "server_harness.h"

namespace hybrec::ps::testing {
namespace {

const std::string kToken = "correct horse battery staple 7f3a9c";

std::string write_token(const TempDir& dir, const std::string& name, const std::string& token,
                        mode_t mode = 0600) {
  const std::string path = dir / name;
  std::ofstream(path) << token << "\n";
  ::chmod(path.c_str(), mode);
  return path;
}

ClientOptions quick_client() {
  ClientOptions options;
  options.connect_timeout_ms = 10000;
  options.io_timeout_ms = 10000;
  options.max_attempts = 1;
  return options;
}

// One pull through a client: what "works" means below.
void round_trip(PsClient& client) {
  client.create_table(test_spec("items", 4, Optimizer::kSgd));
  const int64_t key = 11;
  float row[4];
  client.pull("items", &key, 1, 4, row).wait();
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(AuthToken, RightTokenWorks) {
  TempDir dir;
  ServerOptions options;
  options.auth_token_file = write_token(dir, "server-token", kToken);
  ServingServer server(options);
  ClientOptions client_options = quick_client();
  client_options.auth_token_file = write_token(dir, "client-token", kToken);
  PsClient client({Endpoint{"127.0.0.1", server.port()}}, client_options);
  round_trip(client);
}

TEST(AuthToken, WrongTokenIsRefused) {
  TempDir dir;
  ServerOptions options;
  options.auth_token_file = write_token(dir, "server-token", kToken);
  ServingServer server(options);
  ClientOptions client_options = quick_client();
  client_options.auth_token_file = write_token(dir, "client-token", kToken + "-but-wrong");
  PsClient client({Endpoint{"127.0.0.1", server.port()}}, client_options);
  const std::string error = error_of([&] { round_trip(client); });
  EXPECT_NE(error.find("wrong token"), std::string::npos) << error;
}

TEST(AuthToken, NoTokenIsRefusedButHealthAnswers) {
  TempDir dir;
  ServerOptions options;
  options.auth_token_file = write_token(dir, "server-token", kToken);
  ServingServer server(options);
  PsClient client({Endpoint{"127.0.0.1", server.port()}}, quick_client());
  const auto health = client.health();
  EXPECT_TRUE(health[0].reachable) << health[0].error;
  try {
    round_trip(client);
    FAIL() << "a client without the token created a table";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnauthenticated);
    EXPECT_NE(std::string(e.what()).find("requires token authentication"), std::string::npos)
        << e.what();
  }
}

TEST(AuthToken, TokenFileReadableByOthersIsRefused) {
  TempDir dir;
  const std::string path = write_token(dir, "token", kToken, 0644);
  const std::string error = error_of([&] { read_token_file(path); });
  EXPECT_NE(error.find("chmod 600"), std::string::npos) << error;
  ServerOptions options;
  options.auth_token_file = path;
  EXPECT_THROW(PsServer server(options), hybrec::Error);
}

// Forwards one client connection to the server and keeps every byte the
// client sent.
class RecordingProxy {
 public:
  explicit RecordingProxy(int server_port) : server_port_(server_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(listener_, 4), 0);
    socklen_t length = sizeof(address);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~RecordingProxy() {
    stop_ = true;
    thread_.join();
    ::close(listener_);
  }
  int port() const { return port_; }
  std::string sent() {
    std::lock_guard<std::mutex> lock(mutex_);
    return sent_;
  }

 private:
  void run() {
    pollfd accept_poll{listener_, POLLIN, 0};
    while (!stop_ && ::poll(&accept_poll, 1, 50) == 0) {
    }
    if (stop_) return;
    const int client = ::accept(listener_, nullptr, nullptr);
    const int server = connect_loopback(server_port_);
    pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    char buffer[65536];
    while (!stop_) {
      if (::poll(fds, 2, 50) <= 0) continue;
      bool closed = false;
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
        const ssize_t n = ::recv(fds[i].fd, buffer, sizeof(buffer), 0);
        if (n <= 0) {
          closed = true;
          break;
        }
        if (i == 0) {
          std::lock_guard<std::mutex> lock(mutex_);
          sent_.append(buffer, static_cast<size_t>(n));
        }
        ::send(fds[1 - i].fd, buffer, static_cast<size_t>(n), MSG_NOSIGNAL);
      }
      if (closed) break;
    }
    ::close(client);
    ::close(server);
  }

  int server_port_, port_ = 0, listener_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::string sent_;
  std::thread thread_;
};

TEST(AuthToken, TokenNeverAppearsOnTheWire) {
  TempDir dir;
  ServerOptions options;
  options.auth_token_file = write_token(dir, "server-token", kToken);
  ServingServer server(options);
  RecordingProxy proxy(server.port());
  {
    ClientOptions client_options = quick_client();
    client_options.auth_token_file = write_token(dir, "client-token", kToken);
    PsClient client({Endpoint{"127.0.0.1", proxy.port()}}, client_options);
    round_trip(client);
  }
  const std::string sent = proxy.sent();
  EXPECT_NE(sent.find("auth_finish"), std::string::npos) << "the handshake did not go through";
  EXPECT_EQ(sent.find(kToken), std::string::npos);
  EXPECT_EQ(sent.find(kToken.substr(0, 12)), std::string::npos);
}

// Two independent certificate sets (two CAs), made once for the suite.
class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("hybrec-tls");
    for (const char* set : {"a", "b"}) {
      const std::string command = std::string(HYBREC_SOURCE_DIR) + "/scripts/make-certs.sh " +
                                  (*dir_ / set) + " > /dev/null";
      ASSERT_EQ(std::system(command.c_str()), 0) << command;
    }
  }
  static void TearDownTestSuite() { delete dir_; }

  static TlsFiles files(const std::string& set, const std::string& side,
                        const std::string& ca_set) {
    return TlsFiles{*dir_ / (set + "/" + side + ".pem"), *dir_ / (set + "/" + side + "-key.pem"),
                    *dir_ / (ca_set + "/ca.pem")};
  }
  static ServerOptions tls_server() {
    ServerOptions options;
    options.tls = files("a", "server", "a");
    return options;
  }

  static TempDir* dir_;
};
TempDir* Tls::dir_ = nullptr;

TEST_F(Tls, GoodClientWorks) {
  ServingServer server(tls_server());
  ClientOptions options = quick_client();
  options.tls = files("a", "client", "a");
  PsClient client({Endpoint{"127.0.0.1", server.port()}}, options);
  round_trip(client);
  PsClient by_name({Endpoint{"localhost", server.port()}}, options);
  EXPECT_TRUE(by_name.health()[0].reachable) << by_name.health()[0].error;
}

TEST_F(Tls, ClientWithoutCertificateIsRefused) {
  ServingServer server(tls_server());
  // A client that trusts the server's CA but shows no certificate of its own.
  auto factory = std::make_shared<apache::thrift::transport::TSSLSocketFactory>();
  factory->loadTrustedCertificates((*dir_ / "a/ca.pem").c_str());
  factory->authenticate(true);
  auto socket = factory->createSocket("127.0.0.1", server.port());
  socket->setRecvTimeout(10000);
  auto framed = std::make_shared<apache::thrift::transport::TFramedTransport>(socket);
  wire::ParameterServerClient client(
      std::make_shared<apache::thrift::protocol::TBinaryProtocol>(framed));
  framed->open();
  wire::Health health;
  EXPECT_THROW(client.health(health), apache::thrift::TException);
}

TEST_F(Tls, ClientWithCertificateFromAnotherCaIsRefused) {
  ServingServer server(tls_server());
  ClientOptions options = quick_client();
  options.tls = files("b", "client", "a");  // trusts the server, signed by CA b
  PsClient client({Endpoint{"127.0.0.1", server.port()}}, options);
  const std::string error = error_of([&] { round_trip(client); });
  EXPECT_NE(error.find("TLS"), std::string::npos) << error;
}

TEST_F(Tls, ServerWithCertificateFromAnotherCaIsRefused) {
  ServingServer server(tls_server());
  ClientOptions options = quick_client();
  options.tls = files("b", "client", "b");  // trusts only CA b
  PsClient client({Endpoint{"127.0.0.1", server.port()}}, options);
  const std::string error = error_of([&] { round_trip(client); });
  EXPECT_NE(error.find("TLS"), std::string::npos) << error;
  EXPECT_NE(error.find("certificate verify failed"), std::string::npos) << error;
}

TEST_F(Tls, PlaintextClientIsRefused) {
  ServingServer server(tls_server());
  PsClient client({Endpoint{"127.0.0.1", server.port()}}, quick_client());
  const auto health = client.health();
  EXPECT_FALSE(health[0].reachable);
  EXPECT_THROW(round_trip(client), hybrec::Error);
}

TEST_F(Tls, TlsAndTokenTogether) {
  TempDir dir;
  ServerOptions options = tls_server();
  options.auth_token_file = write_token(dir, "token", kToken);
  ServingServer server(options);
  ClientOptions client_options = quick_client();
  client_options.tls = files("a", "client", "a");
  client_options.auth_token_file = options.auth_token_file;
  PsClient client({Endpoint{"127.0.0.1", server.port()}}, client_options);
  round_trip(client);
}

TEST_F(Tls, MissingTlsFileIsNamed) {
  ServerOptions options;
  options.tls = files("a", "server", "a");
  options.tls.key.clear();
  const std::string error = error_of([&] { PsServer server(options); });
  EXPECT_NE(error.find("--tls-key is missing"), std::string::npos) << error;
}

}  // namespace
}  // namespace hybrec::ps::testing
