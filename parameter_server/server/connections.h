// The server's open connections, as Thrift's event handler sees them: one
// Connection per accepted socket, created when the nonblocking server sets
// the connection up and deleted when it closes it. The processor reads and
// writes a connection's authentication state (only one request of a
// connection is processed at a time) and marks each request's start and end,
// which lets the server drop connections idle too long and drain on stop
// without a thread per connection.
#pragma once

#include <thrift/server/TServer.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_set>

namespace hybrec::ps {

struct Connection {
  int fd = -1;
  // Requests being processed on it (0 or 1), and when the last one ended
  // (or the connection was accepted), in steady-clock milliseconds.
  std::atomic<int> busy{0};
  std::atomic<int64_t> last_active_ms{0};
  // Token authentication (ps.thrift auth_begin / auth_finish).
  bool authenticated = false;
  std::string client_nonce, server_nonce;  // of the last auth_begin

  void begin_request() { busy.store(1); }
  void end_request();
};

int64_t steady_now_ms();

class ConnectionRegistry : public apache::thrift::server::TServerEventHandler {
 public:
  // The listening socket calls this, on the thread that then sets the
  // connection up (createContext), with each accepted socket.
  static void note_accepted(int fd);

  void* createContext(std::shared_ptr<apache::thrift::protocol::TProtocol> input,
                      std::shared_ptr<apache::thrift::protocol::TProtocol> output) override;
  void deleteContext(void* context, std::shared_ptr<apache::thrift::protocol::TProtocol> input,
                     std::shared_ptr<apache::thrift::protocol::TProtocol> output) override;

  // Shuts down (both ways) every connection with no request in progress and
  // no activity for idle_ms; the server's event loop then closes it.
  // Returns how many.
  int drop_idle(int64_t idle_ms);
  // From now on: every connection stops reading (shutdown SHUT_RD), so each
  // closes once the reply to a request in progress has been written, and
  // connections accepted later are shut down at once.
  void stop_reading();
  size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_set<Connection*> open_;
  bool stopping_ = false;
};

}  // namespace hybrec::ps
