#include "nats_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace hybrec::trainer::testing {

namespace {

bool bind_loopback(int port, bool connect_instead) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  auto* a = reinterpret_cast<sockaddr*>(&addr);
  const bool ok =
      connect_instead ? connect(fd, a, sizeof(addr)) == 0 : bind(fd, a, sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// As tests/ps/ps_process.cc: below the kernel's ephemeral range, so the
// port is not handed to some outgoing connection while the server is down
// between a kill and its restart.
int free_port() {
  static std::atomic<unsigned> counter{0};
  const unsigned salt = static_cast<unsigned>(getpid()) * 2654435761u;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int port = 20000 + static_cast<int>((salt + counter++ * 7919u) % 12000u);
    if (bind_loopback(port, /*connect_instead=*/false)) return port;
  }
  return 0;
}

}  // namespace

std::string NatsServer::binary() {
  const char* env = std::getenv("HYBREC_NATS_SERVER");
  return env != nullptr && *env != '\0' ? env : "/usr/sbin/nats-server";
}

bool NatsServer::available() { return access(binary().c_str(), X_OK) == 0; }

NatsServer::NatsServer() {
  port_ = free_port();
  start();
}

NatsServer::~NatsServer() { kill(); }

void NatsServer::start() {
  if (running()) return;
  const std::string bin = binary();
  const std::string port = std::to_string(port_);
  const std::string store = dir_ / "store";
  const std::string log = dir_ / "server.log";
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    // Not the test's sockets (a restart happens while its clients are
    // connected): the server holds nothing of the test process open.
    for (int other = 3; other < 1024; ++other) close(other);
    execl(bin.c_str(), bin.c_str(), "-js", "-a", "127.0.0.1", "-p", port.c_str(), "-sd",
          store.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      ADD_FAILURE() << bin << " exited at start:\n" << this->log();
      return;
    }
    // It listens only once JetStream has recovered its streams.
    if (bind_loopback(port_, /*connect_instead=*/true)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill();
  ADD_FAILURE() << bin << " did not listen on port " << port_ << " within 20 s:\n" << this->log();
}

void NatsServer::kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string NatsServer::url(const std::string& subject) const {
  return "nats://127.0.0.1:" + std::to_string(port_) + "/" + subject;
}

std::string NatsServer::log() const {
  std::ifstream in(dir_ / "server.log");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace hybrec::trainer::testing
