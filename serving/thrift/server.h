// The Thrift port of `hybrec serve`: serving/wire/recommender.thrift answered
// from a ServedRun, framed strict binary protocol over TCP, on Thrift's
// nonblocking server: event loops (io_threads) read and write every
// connection and `threads` workers score the requests whose frame has
// arrived, so an open or idle connection costs no worker.
//
// Limits: a frame larger than max_frame_bytes closes its connection before
// anything is allocated for it, and no length declared inside a frame can
// claim more than the frame holds (parameter_server/wire/frame_limits.h); a batch holds at most
// max_batch requests. A frame that does not parse closes only its own
// connection. Nothing here authenticates: bind to loopback (the default) or
// a private network.
//
// From `hybrec serve`, one call:
//   hybrec::serving::ThriftServer thrift(served_run, options);
// serves in the background from the constructor's return until stop() or
// destruction; thrift.port() is the bound port (options.port 0: a free one).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "serving/served_run.h"
#include "serving/thrift/processor.h"

namespace apache::thrift::server {
class TNonblockingServer;
}
namespace apache::thrift::concurrency {
class ThreadManager;
}

namespace hybrec::serving {

struct ThriftServerOptions {
  std::string bind_address = "127.0.0.1";  // loopback unless told otherwise
  int port = 0;                            // 0: any free port; port() tells which
  int threads = 8;                         // requests scored at once
  int io_threads = 1;                      // event loops reading and writing connections
  int64_t max_frame_bytes = 16LL << 20;    // largest request or reply
  int64_t max_batch = 1024;                // requests in one recommend_batch
  // Told of every recommend and recommend_batch call (processor.h
  // CallObserver: seconds, outcome 0 ok / 1 bad request / 2 error), e.g. to
  // count them in /metrics. Empty: nothing is told.
  CallObserver observer;
};

class ThriftServer {
 public:
  // Binds (throws hybrec::Error naming the address for a port in use or bad
  // options) and serves in the background until stop(). run must outlive
  // the server.
  ThriftServer(ServedRun& run, ThriftServerOptions options);
  ~ThriftServer();  // stop()
  ThriftServer(const ThriftServer&) = delete;
  ThriftServer& operator=(const ThriftServer&) = delete;

  int port() const { return port_; }

  // Stops accepting and reading, and returns once the event loops and the
  // workers have stopped (calls being scored finish; their replies may not
  // be sent). Idempotent.
  void stop();

 private:
  ThriftServerOptions options_;
  std::shared_ptr<apache::thrift::concurrency::ThreadManager> workers_;
  std::shared_ptr<apache::thrift::server::TNonblockingServer> server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace hybrec::serving
