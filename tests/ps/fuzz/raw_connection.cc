// Raw, non-blocking connections for the fuzz test; see raw_connection.h.
#include "raw_connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace hybrec::ps::fuzz {

Conn::Conn(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error_ = std::strerror(errno);
    return;
  }
  timeval tv{10, 0};  // bounds connect()
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    error_ = std::strerror(errno);
    close(fd_);
    fd_ = -1;
    return;
  }
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

Conn::~Conn() {
  if (fd_ >= 0) close(fd_);
}

bool Conn::send(const std::string& bytes, bool discard, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t off = 0;
  while (off < bytes.size()) {
    pollfd p{fd_, static_cast<short>(POLLOUT | (discard ? POLLIN : 0)), 0};
    const int r = poll(&p, 1, left_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    if (p.revents & POLLIN) {
      char sink[65536];
      const ssize_t got = recv(fd_, sink, sizeof(sink), 0);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) return false;
    }
    if (p.revents & POLLOUT) {
      const ssize_t sent = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return false;
      }
      off += static_cast<size_t>(sent);
    } else if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) {
      return false;
    }
  }
  return true;
}

Conn::Read Conn::read_frame(std::string* frame, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  frame->clear();
  Read r = read_exact(4, frame, deadline);
  if (r != Read::kData) return r;
  const uint32_t n = (static_cast<uint8_t>((*frame)[0]) << 24) |
                     (static_cast<uint8_t>((*frame)[1]) << 16) |
                     (static_cast<uint8_t>((*frame)[2]) << 8) | static_cast<uint8_t>((*frame)[3]);
  if (n > static_cast<uint32_t>(kMaxFrame)) return Read::kData;  // the parser will object
  return read_exact(n, frame, deadline);
}

Conn::Read Conn::drain(int timeout_ms, int64_t* bytes) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  char sink[65536];
  for (;;) {
    const ssize_t got = recv(fd_, sink, sizeof(sink), 0);
    if (got == 0) return Read::kClosed;
    if (got > 0) {
      if (bytes != nullptr) *bytes += got;
      continue;
    }
    if (errno == ECONNRESET || errno == EPIPE) return Read::kClosed;
    if (errno != EAGAIN && errno != EINTR) return Read::kClosed;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, left_ms(deadline)) == 0) return Read::kTimeout;
  }
}

void Conn::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

void Conn::reset() {
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd_);
  fd_ = -1;
}

int Conn::left_ms(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<int64_t>(0, left));
}

Conn::Read Conn::read_exact(size_t n, std::string* out, Clock::time_point deadline) {
  size_t have = 0;
  const size_t base = out->size();
  out->resize(base + n);
  while (have < n) {
    const ssize_t got = recv(fd_, out->data() + base + have, n - have, 0);
    if (got == 0) return Read::kClosed;
    if (got > 0) {
      have += static_cast<size_t>(got);
      continue;
    }
    if (errno != EAGAIN && errno != EINTR) return Read::kClosed;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, left_ms(deadline)) == 0) return Read::kTimeout;
  }
  return Read::kData;
}

const char* read_name(Conn::Read r) {
  switch (r) {
    case Conn::Read::kData:
      return "data";
    case Conn::Read::kClosed:
      return "closed";
    case Conn::Read::kTimeout:
      return "timeout";
  }
  return "?";
}

void PrintTo(Conn::Read r, std::ostream* os) { *os << read_name(r); }

}  // namespace hybrec::ps::fuzz
