// One parameter-server shard behind Thrift: framed binary protocol over TCP,
// one thread per connection, periodic and final checkpoints.
//
// Limits: every connection's frames and messages are capped at
// max_frame_bytes through Thrift's TConfiguration, so no request can make the
// server allocate more than that; a connection idle (or stalled mid-frame)
// for idle_timeout_ms is dropped; at most max_connections are served at
// once (the next ones wait in the accept queue).
//
// Shutdown: stop() (from any thread, e.g. on SIGTERM) stops accepting and
// wakes idle connections; requests already being processed finish and are
// answered; then serve() takes the final checkpoint, when configured, and
// returns.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "parameter_server/server/service.h"

namespace apache::thrift::server {
class TThreadedServer;
}

namespace hybrec::ps {

struct ServerOptions {
  std::string bind_address = "127.0.0.1";  // loopback unless told otherwise
  int port = 0;                            // 0: any free port; port() tells which
  ShardId shard;
  std::string checkpoint_dir;        // empty: no checkpoints
  double checkpoint_interval_s = 0;  // 0: only on request and at shutdown
  int max_connections = 64;
  int64_t max_frame_bytes = 256LL << 20;
  int idle_timeout_ms = 300000;
};

class PsServer {
 public:
  // Restores <checkpoint_dir>/latest when this shard has one, then binds.
  // Throws hybrec::Error (bad options, port in use, unreadable checkpoint).
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

  ServerOptions options_;
  std::shared_ptr<PsService> service_;
  std::shared_ptr<apache::thrift::server::TThreadedServer> server_;
  int port_ = 0;
  bool restored_ = false;

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread checkpointer_;
};

}  // namespace hybrec::ps
