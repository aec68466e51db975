// hybrec serve: a trained run answering recommendation requests over HTTP
// (JSON, a web page, Prometheus metrics) until SIGTERM or SIGINT.
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <cstdio>
#include <exception>
#include <iostream>
#include <thread>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/flags.h"
#include "launch/llm_flags.h"
#include "launch/overrides.h"
#include "launch/ps_auth_flags.h"
#include "launch/stop_signals.h"
#include "serving/http/http_server.h"
#include "serving/metrics.h"
#include "serving/candidates.h"
#include "serving/served_run.h"
#include "serving/thrift/server.h"

namespace hybrec::launch {

namespace {

constexpr const char* kUsage =
    "hybrec serve --run DIR [--ps HOST:PORT,...] [--http-port H] [--port P] [--threads T]\n"
    "             [--text-model DIR] [--refresh-s S] [--host ADDR] [--stream URL]\n"
    "             [--index exact|faiss-ivf] [--nprobe N] [--max-batch N] [--batch-wait-us U]\n"
    "             [--explain-model FILE.gguf [--explain-threads N]] [--set section.key=value ...]\n"
    "DIR is a run directory (its checkpoints/best, else latest) or one step directory;\n"
    "when the run's checkpoints/latest moves (an online trainer), its dense parameters\n"
    "are served from then on.";

}  // namespace

int run_serve(int argc, char** argv) {
  SplitArgs args = take_overrides(argc, argv);
  Flags flags("hybrec serve", kUsage);
  flags.add("run", "DIR", "the trained run to serve (required)");
  flags.add("ps", "HOST:PORT,...",
            "live parameter servers to read id rows from (default: the checkpoint's snapshot "
            "files, which never change)");
  flags.add("http-port", "H", "HTTP port (default 8080; 0: any free port, printed when ready)");
  flags.add("port", "P",
            "Thrift port (serving/wire/recommender.thrift; 0: any free port, printed when "
            "ready; default: no Thrift port)");
  flags.add("host", "ADDR",
            "address to listen on (default 127.0.0.1; HTTP has no authentication: expose it "
            "through a proxy that has)");
  flags.add("threads", "T",
            "HTTP worker threads (default 8); each open keep-alive connection holds one until "
            "it closes or idles 5 s");
  flags.add("text-model", "DIR",
            "BERT model directory for query text (datasets embedded with one)");
  flags.add("refresh-s", "S",
            "rebuild the item matrix from the live servers every S seconds (default 10; 0: only "
            "when the run's checkpoints/latest moves)");
  flags.add("stale-after-s", "S",
            "/health says \"stale\" when the item matrix is older (default: 3 refresh periods "
            "with --ps, else never)");
  flags.add("data", "FILE", "dataset file (default: the run's data.path)");
  flags.add("stream", "URL",
            "live events to follow (file:PATH or nats://HOST:PORT/SUBJECT): each extends its "
            "user's history at once; a new item joins the catalogue with its text");
  flags.add("stream-from", "P", "follow the stream after position P (default 0: all of it)");
  flags.add("index", "KIND",
            "exact (default: every item scored) or faiss-ivf (an IVF index finds candidates, "
            "re-scored exactly; recall@10 against exact is printed at each build)");
  flags.add("nprobe", "N", "IVF lists each query scans (default 16; more: closer to exact)");
  flags.add("max-batch", "N", "single requests scored together at most (default 64)");
  flags.add("batch-wait-us", "U",
            "how long a single request waits for others to batch with (default 200)");
  flags.add("explain-model", "FILE",
            std::string("GGUF language model for explain=true requests (e.g. ") +
                kDefaultLanguageModel + "; default: none, and explain=true is refused)");
  flags.add("explain-threads", "N",
            "OpenMP threads of each explanation's decode (default 1; concurrent requests "
            "decode in parallel)");
  add_ps_auth_flags(flags, false);
  flags.add("help", "", "print this help");
  flags.parse(static_cast<int>(args.rest.size()), args.rest.data(), 2);
  if (flags.has("help")) {
    std::cout << flags.help();
    return 0;
  }
  HYBREC_CHECK(flags.positional().empty(), "hybrec serve: unexpected argument '",
               flags.positional().front(), "'");

  serving::ServeOptions options;
  options.run = flags.require("run");
  if (flags.has("ps")) options.ps = ps::parse_endpoints(flags.require("ps"));
  options.ps_client.tls = tls_files(flags);
  options.ps_client.auth_token_file = auth_token_file(flags);
  options.text_model = flags.get("text-model", "");
  options.refresh_s = flags.get_double("refresh-s", 10, 0, 86400);
  options.overrides = args.overrides;
  if (flags.has("data")) options.overrides.push_back("data.path=" + flags.require("data"));
  options.stream = flags.get("stream", "");
  options.stream_start_after =
      static_cast<uint64_t>(flags.get_int("stream-from", 0, 0, INT64_MAX));
  options.index.kind = serving::parse_index_kind(flags.get("index", "exact"));
  options.index.nprobe = flags.get_int("nprobe", 16, 1, 1 << 20);
  options.max_batch = flags.get_int("max-batch", 64, 1, 4096);
  options.batch_wait_us = flags.get_int("batch-wait-us", 200, 0, 1000000);
  HYBREC_CHECK(flags.has("explain-model") || !flags.has("explain-threads"),
               "hybrec serve: --explain-threads needs --explain-model");
  if (flags.has("explain-model")) {
    options.explain_model = load_language_model(flags.require("explain-model"));
    options.explain_threads = static_cast<int>(flags.get_int("explain-threads", 1, 1, 1024));
  }

  serving::http::HttpOptions http;
  http.host = flags.get("host", http.host);
  http.port = static_cast<int>(flags.get_int("http-port", 8080, 0, 65535));
  http.threads = static_cast<int>(flags.get_int("threads", 8, 1, 1024));
  const double default_stale =
      !options.ps.empty() && options.refresh_s > 0 ? 3 * options.refresh_s : 0;
  http.stale_after_s = flags.get_double("stale-after-s", default_stale, 0, 1e9);
  const int64_t thrift_port = flags.get_int("port", -1, 0, 65535);

  const std::atomic<int>& stop = install_stop_signals();
  // A client that hangs up mid-reply must not end the server.
  signal(SIGPIPE, SIG_IGN);
  serving::ServedRun served(options);
  serving::Metrics metrics;
  serving::http::HttpServer server(served, metrics, http);

  std::unique_ptr<serving::ThriftServer> thrift;
  if (thrift_port >= 0) {
    serving::ThriftServerOptions t;
    t.bind_address = http.host;
    t.port = static_cast<int>(thrift_port);
    t.threads = http.threads;
    t.observer = [&metrics](double seconds, int outcome) {
      metrics.observe(serving::Interface::kThrift, seconds,
                      outcome == 0   ? serving::Outcome::kOk
                      : outcome == 1 ? serving::Outcome::kBadRequest
                                     : serving::Outcome::kError);
    };
    thrift = std::make_unique<serving::ThriftServer>(served, std::move(t));
  }

  std::exception_ptr failure;
  std::atomic<bool> done{false};
  std::thread listener([&] {
    try {
      server.serve();
    } catch (...) {
      failure = std::current_exception();
    }
    done = true;
  });
  while (!server.running() && !done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (!done) {
    const serving::ServeHealth h = served.health();
    std::printf("hybrec serve: http://%s:%d/ (%lld items, rows from %s)\n", http.host.c_str(),
                server.port(), static_cast<long long>(h.num_items), h.rows_from.c_str());
    if (thrift != nullptr) {
      std::printf("hybrec serve: thrift %s:%d\n", http.host.c_str(), thrift->port());
    }
    std::fflush(stdout);
  }
  // The signal handler only sets `stop`; stopping the server is done here.
  while (stop.load() == 0 && !done) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  server.stop();
  listener.join();
  if (thrift != nullptr) thrift->stop();
  if (failure) std::rethrow_exception(failure);
  std::printf("hybrec serve: stopped (signal %d)\n", stop.load());
  return 0;
}

}  // namespace hybrec::launch
