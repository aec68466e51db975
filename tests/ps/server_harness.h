// An in-process PsServer serving on its own thread, and raw loopback
// sockets, for the connection-layer suites (connections_test, auth_test).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include "parameter_server/server/server.h"

namespace hybrec::ps::testing {

class ServingServer {
 public:
  explicit ServingServer(ServerOptions options)
      : server_(std::make_unique<PsServer>(std::move(options))),
        thread_([this] { server_->serve(); }) {}
  ~ServingServer() {
    server_->stop();
    thread_.join();
  }
  int port() const { return server_->port(); }
  PsServer& server() { return *server_; }

 private:
  std::unique_ptr<PsServer> server_;
  std::thread thread_;
};

// A connected loopback TCP socket, or -1.
inline int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace hybrec::ps::testing
