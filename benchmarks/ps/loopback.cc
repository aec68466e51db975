#include "loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace hybrec::bench {
namespace {

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

void write_all(int fd, const char* data, int64_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, static_cast<size_t>(n), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno("loopback send");
    }
    data += w;
    n -= w;
  }
}

// Reads exactly n bytes; false when the peer closed cleanly before the first.
bool read_all(int fd, char* data, int64_t n) {
  int64_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(fd, data + got, static_cast<size_t>(n - got), 0);
    if (r == 0) {
      if (got == 0) return false;
      throw std::runtime_error("loopback connection closed mid-message");
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_errno("loopback recv");
    }
    got += r;
  }
  return true;
}

// Both ends of one TCP connection on 127.0.0.1, with Nagle off as the PS
// client sets it (a reply's tail must not wait for an ACK).
std::pair<Fd, Fd> loopback_pair() {
  Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (listener.get() < 0) throw_errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    throw_errno("bind 127.0.0.1:0");
  }
  if (::listen(listener.get(), 1) != 0) throw_errno("listen");
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw_errno("getsockname");
  }
  Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (client.get() < 0) throw_errno("socket");
  // A blocking connect completes from the listen backlog, before accept().
  if (::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    throw_errno("connect to the loopback listener");
  }
  Fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (server.get() < 0) throw_errno("accept");
  const int one = 1;
  for (int fd : {client.get(), server.get()}) {
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
      throw_errno("TCP_NODELAY");
    }
  }
  return {std::move(client), std::move(server)};
}

}  // namespace

void loopback_tcp_bench(benchmark::State& state, const RoundTrip& round_trip) {
  Fd client, server;
  std::vector<char> request(static_cast<size_t>(round_trip.request_bytes), 1);
  std::vector<char> reply(static_cast<size_t>(round_trip.reply_bytes), 0);
  std::string peer_error;
  std::thread peer;
  bool ok = true;
  try {
    std::tie(client, server) = loopback_pair();
    peer = std::thread([&] {
      // The peer's own buffers, touched once, so no page fault is timed.
      std::vector<char> in(static_cast<size_t>(round_trip.request_bytes), 0);
      std::vector<char> out(static_cast<size_t>(round_trip.reply_bytes), 2);
      try {
        while (read_all(server.get(), in.data(), round_trip.request_bytes)) {
          write_all(server.get(), out.data(), round_trip.reply_bytes);
        }
      } catch (const std::exception& e) {
        peer_error = e.what();
        // Unblocks the benchmark thread if it is waiting for a reply.
        ::shutdown(server.get(), SHUT_RDWR);
      }
    });
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    ok = false;
  }

  // On a failure the loop keeps turning without work, so that every
  // benchmark thread reaches the end-of-run barrier.
  for (auto _ : state) {
    if (!ok) continue;
    try {
      write_all(client.get(), request.data(), round_trip.request_bytes);
      if (!read_all(client.get(), reply.data(), round_trip.reply_bytes)) {
        throw std::runtime_error("loopback peer closed the connection");
      }
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      ok = false;
    }
  }
  benchmark::DoNotOptimize(reply.data());

  // Closing our end ends the peer: a clean EOF while it waits for a request,
  // or a reset while it is still writing a reply nobody reads.
  client.reset();
  if (peer.joinable()) peer.join();
  if (ok && !peer_error.empty()) state.SkipWithError(peer_error.c_str());

  const double trips = static_cast<double>(state.iterations());
  state.counters["bytes"] = benchmark::Counter(
      trips * static_cast<double>(round_trip.counted_bytes), benchmark::Counter::kIsRate);
  state.counters["rows"] =
      benchmark::Counter(trips * static_cast<double>(round_trip.rows), benchmark::Counter::kIsRate);
}

}  // namespace hybrec::bench
