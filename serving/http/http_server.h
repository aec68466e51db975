// `hybrec serve`'s HTTP interface (cpp-httplib, a pool of worker threads):
//
//   GET  /recommend?...   one request from query parameters (request_json.h)
//   POST /recommend       a JSON request or a batch {"requests":[...]}
//   GET  /health          ServeHealth as JSON, "status": "ok" or "stale"
//   GET  /metrics         Prometheus text format 0.0.4 (serving/metrics.h)
//   GET  /                the web page (web_page.h)
//
// A client's mistake (malformed JSON, a wrong type, an unknown field, k out
// of range, an unknown item) is 400 with {"error": "..."} naming it; a body
// over max_body_bytes is 413; anything else that fails is 500 with its
// message. The server keeps serving after each of them. /metrics counts
// every /recommend call the handlers answer; requests httplib turns away
// before routing (413, 404) are not counted.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "serving/metrics.h"
#include "serving/served_run.h"

namespace httplib {
class Server;
}

namespace hybrec::serving::http {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 0;                      // 0: any free port (see port())
  int threads = 8;                   // worker threads answering requests
  int64_t max_body_bytes = 1 << 20;  // larger bodies are 413
  double stale_after_s = 0;          // /health says "stale" past this age; 0 = never
};

class HttpServer {
 public:
  // Binds the port (throws naming the address when it cannot); requests are
  // answered once serve() runs. served and metrics must outlive the server.
  HttpServer(ServedRun& served, Metrics& metrics, const HttpOptions& options);
  ~HttpServer();

  int port() const { return port_; }
  // Answers requests until stop() (on this thread; the workers answer);
  // throws if the listener fails.
  void serve();
  // Whether serve() is listening. stop() before then has no effect, so a
  // caller that stops from another thread waits for this first.
  bool running() const;
  // Thread-safe; serve() returns once requests in flight are answered.
  void stop();

 private:
  void add_routes();

  ServedRun& served_;
  Metrics& metrics_;
  HttpOptions options_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
};

}  // namespace hybrec::serving::http
