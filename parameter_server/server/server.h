// One parameter-server shard behind Thrift: framed binary protocol over TCP
// (optionally mutual TLS), served by Thrift's nonblocking server: event
// loops (io_threads) read and write every connection, and a pool of
// `threads` workers processes the requests whose frame has arrived, so an
// open connection costs a socket and a small buffer, not a thread, and any
// number of idle connections leave the workers free.
//
// Limits: a frame larger than max_frame_bytes is refused (the connection is
// closed) before anything is allocated for it, and strings and containers
// are capped at the same size; a connection with no request in progress and
// no activity for idle_timeout_ms (idle, or stalled mid-frame, or not
// reading its reply) is dropped.
//
// Authentication (see README "The parameter server"): tls.cert/key/ca turn
// on mutual TLS, auth_token_file the token challenge-response (ps.thrift
// auth_begin), both may be on. A bind address other than loopback needs one
// of them, or insecure = true.
//
// Shutdown: stop() (from any thread, e.g. on SIGTERM) stops reading new
// requests and closes connections as they become idle; requests already
// received finish and their replies are written (for at most
// idle_timeout_ms); then serve() takes the final checkpoint, when
// configured, and returns.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "parameter_server/server/service.h"
#include "parameter_server/wire/tls.h"

namespace apache::thrift::server {
class TNonblockingServer;
}
namespace apache::thrift::concurrency {
class ThreadManager;
}

namespace hybrec::ps {

class ConnectionRegistry;

struct ServerOptions {
  std::string bind_address = "127.0.0.1";  // loopback unless told otherwise
  int port = 0;                            // 0: any free port; port() tells which
  ShardId shard;
  std::string checkpoint_dir;        // empty: no checkpoints
  double checkpoint_interval_s = 0;  // 0: only on request and at shutdown
  int threads = 64;                  // requests processed at once
  int io_threads = 2;                // event loops reading and writing connections
  int64_t max_frame_bytes = 256LL << 20;
  int idle_timeout_ms = 300000;
  TlsFiles tls;                 // all three set: mutual TLS
  std::string auth_token_file;  // set: token authentication
  bool insecure = false;        // allow a non-loopback bind without either
};

// Whether `address` is a loopback address (127.0.0.0/8, ::1, localhost).
bool is_loopback_address(const std::string& address);

class PsServer {
 public:
  // Restores <checkpoint_dir>/latest when this shard has one, then binds.
  // Throws hybrec::Error (bad options, port in use, unreadable checkpoint,
  // unusable TLS files or token, non-loopback bind without authentication).
  explicit PsServer(ServerOptions options);
  ~PsServer();

  // The bound port (the chosen one when options.port was 0).
  int port() const { return port_; }
  // Whether the constructor restored a "latest" checkpoint.
  bool restored() const { return restored_; }

  // Serves until stop(); then takes the final checkpoint. Rethrows a failure
  // of that checkpoint.
  void serve();
  void stop();

 private:
  void checkpoint_loop();
  void watch_loop();

  ServerOptions options_;
  std::shared_ptr<PsService> service_;
  std::shared_ptr<ConnectionRegistry> connections_;
  std::shared_ptr<apache::thrift::concurrency::ThreadManager> workers_;
  std::shared_ptr<apache::thrift::server::TNonblockingServer> server_;
  int port_ = 0;
  bool restored_ = false;

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::atomic<bool> serve_returned_{false};  // set once server_->serve() returned
  std::thread checkpointer_;
  std::thread watcher_;
};

}  // namespace hybrec::ps
