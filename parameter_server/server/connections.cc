#include "parameter_server/server/connections.h"

#include <sys/socket.h>

namespace hybrec::ps {

namespace {
// The socket accepted last on this thread, waiting for its createContext.
thread_local int accepted_fd = -1;
}  // namespace

int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Connection::end_request() {
  last_active_ms.store(steady_now_ms());
  busy.store(0);
}

void ConnectionRegistry::note_accepted(int fd) { accepted_fd = fd; }

void* ConnectionRegistry::createContext(std::shared_ptr<apache::thrift::protocol::TProtocol>,
                                        std::shared_ptr<apache::thrift::protocol::TProtocol>) {
  auto* connection = new Connection;
  connection->fd = accepted_fd;
  accepted_fd = -1;
  connection->last_active_ms.store(steady_now_ms());
  std::lock_guard<std::mutex> lock(mutex_);
  open_.insert(connection);
  if (stopping_ && connection->fd >= 0) ::shutdown(connection->fd, SHUT_RDWR);
  return connection;
}

void ConnectionRegistry::deleteContext(void* context,
                                       std::shared_ptr<apache::thrift::protocol::TProtocol>,
                                       std::shared_ptr<apache::thrift::protocol::TProtocol>) {
  auto* connection = static_cast<Connection*>(context);
  {
    // The socket is closed after this returns, so shutdown() under this
    // lock never reaches a reused descriptor.
    std::lock_guard<std::mutex> lock(mutex_);
    open_.erase(connection);
  }
  delete connection;
}

int ConnectionRegistry::drop_idle(int64_t idle_ms) {
  const int64_t now = steady_now_ms();
  int dropped = 0;
  std::lock_guard<std::mutex> lock(mutex_);
  for (Connection* c : open_) {
    if (c->fd >= 0 && c->busy.load() == 0 && now - c->last_active_ms.load() > idle_ms) {
      ::shutdown(c->fd, SHUT_RDWR);
      c->last_active_ms.store(now);  // once per period, while the loop closes it
      ++dropped;
    }
  }
  return dropped;
}

void ConnectionRegistry::stop_reading() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = true;
  for (Connection* c : open_) {
    if (c->fd >= 0) ::shutdown(c->fd, SHUT_RD);
  }
}

size_t ConnectionRegistry::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return open_.size();
}

}  // namespace hybrec::ps
