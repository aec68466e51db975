// hybrec ps: one parameter-server shard until SIGTERM/SIGINT.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <thread>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/flags.h"
#include "parameter_server/server.h"

namespace hybrec::launch {

namespace {

ps::ShardId parse_shard(const std::string& text) {
  const size_t slash = text.find('/');
  int index = -1, count = -1;
  char extra = 0;
  const bool ok = slash != std::string::npos &&
                  std::sscanf(text.c_str(), "%d/%d%c", &index, &count, &extra) == 2;
  HYBREC_CHECK(ok, "--shard '", text, "' is not INDEX/COUNT (e.g. 0/4)");
  HYBREC_CHECK(count >= 1 && count <= 4096, "--shard ", text, ": count ", count,
               " out of range [1, 4096]");
  HYBREC_CHECK(index >= 0 && index < count, "--shard ", text, ": index ", index,
               " out of range [0, ", count, ")");
  return ps::ShardId{index, count};
}

}  // namespace

int run_ps(int argc, char** argv) {
  Flags flags("hybrec ps", "hybrec ps --port P [--shard I/N] [--checkpoint-dir DIR] [options]");
  flags.add("port", "P", "TCP port to serve on (0: any free port, printed at start)");
  flags.add("shard", "I/N", "this server is shard I of N (default 0/1)");
  flags.add("bind", "ADDR", "address to bind (default 127.0.0.1, loopback only)");
  flags.add("checkpoint-dir", "DIR", "where save/load and periodic checkpoints live");
  flags.add("checkpoint-every", "S", "also checkpoint to DIR/latest every S seconds");
  flags.add("threads", "T", "connections served at once, one thread each (default 64)");
  flags.add("max-frame-mib", "M", "largest request or reply frame (default 256)");
  flags.add("idle-timeout-s", "S", "drop a connection idle or stalled this long (default 300)");
  flags.add("help", "", "print this help");
  flags.parse(argc, argv, 2);
  if (flags.has("help")) {
    std::cout << flags.help();
    return 0;
  }
  HYBREC_CHECK(flags.positional().empty(), "hybrec ps: unexpected argument '",
               flags.positional().front(), "'");

  ps::ServerOptions options;
  options.port = static_cast<int>(flags.get_int("port", -1, 0, 65535));
  HYBREC_CHECK(flags.has("port"), "hybrec ps: --port is required");
  options.shard = parse_shard(flags.get("shard", "0/1"));
  options.bind_address = flags.get("bind", options.bind_address);
  options.checkpoint_dir = flags.get("checkpoint-dir", "");
  options.checkpoint_interval_s = flags.get_double("checkpoint-every", 0, 0, 1e7);
  options.max_connections = static_cast<int>(flags.get_int("threads", 64, 1, 4096));
  options.max_frame_bytes = flags.get_int("max-frame-mib", 256, 1, 2047) << 20;
  options.idle_timeout_ms = static_cast<int>(flags.get_int("idle-timeout-s", 300, 1, 86400) * 1000);

  // Termination signals go to one thread that asks the server to drain;
  // they are blocked before any other thread exists so none inherits them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ps::PsServer server(options);
  std::printf("hybrec ps: shard %d/%d serving on %s:%d%s\n", options.shard.index,
              options.shard.count, options.bind_address.c_str(), server.port(),
              server.restored() ? " (restored from its latest checkpoint)" : "");
  std::fflush(stdout);

  std::thread signal_waiter([&server, signals] {
    int received = 0;
    sigwait(&signals, &received);
    std::fprintf(stderr, "hybrec ps: signal %d, finishing in-flight requests\n", received);
    server.stop();
  });
  signal_waiter.detach();
  server.serve();
  std::printf("hybrec ps: shard %d/%d stopped%s\n", options.shard.index, options.shard.count,
              options.checkpoint_dir.empty() ? "" : " after its final checkpoint");
  return 0;
}

}  // namespace hybrec::launch
