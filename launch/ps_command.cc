// hybrec ps: one parameter-server shard until SIGTERM/SIGINT, or, with
// --mpi, one server rank of an MPMD job until every trainer rank finished.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <thread>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/flags.h"
#include "launch/mpi_job.h"
#include "launch/ps_auth_flags.h"
#include "parameter_server/server/server.h"

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

// The address trainers should dial: --advertise, else the bind address,
// else (bound to every interface) this machine's hostname.
std::string advertised_host(const std::string& advertise, const std::string& bind) {
  if (!advertise.empty()) return advertise;
  if (!bind.empty() && bind != "0.0.0.0" && bind != "::") return bind;
  char name[256] = {};
  HYBREC_CHECK(gethostname(name, sizeof(name) - 1) == 0, "hybrec ps: gethostname failed");
  return name;
}

// One server rank of `mpirun -np P hybrec ps --mpi ... : -np W hybrec train ...`:
// shard = rank among the server ranks, endpoint published through the job,
// served until every trainer rank called finish() (then the final
// checkpoint, as on SIGTERM). Every MPI call stays on this thread; the
// server runs on another. A signal (SIGTERM, SIGINT, SIGUSR1) reaches the
// trainers too, which checkpoint (through this server) and finish: the
// server keeps serving for them up to drain_timeout_s, then stops, takes its
// checkpoint and fails, which aborts the job.
int serve_mpi_rank(ps::ServerOptions options, const std::string& advertise, const sigset_t& signals,
                   double drain_timeout_s) {
  HYBREC_CHECK(launched_by_mpi(),
               "hybrec ps --mpi: not started by mpirun (no OMPI_COMM_WORLD_SIZE, PMI_SIZE or "
               "PMIX_RANK); run `mpirun -np P hybrec ps --mpi ... : -np W hybrec train ...`");
  MpiJob job(JobRole::kServer);
  options.shard = ps::ShardId{job.role_rank(), job.role_size()};
  ps::PsServer server(options);
  const std::string endpoint =
      advertised_host(advertise, options.bind_address) + ":" + std::to_string(server.port());
  std::printf("hybrec ps: shard %d/%d serving on %s:%d%s (MPI rank %d, advertised as %s)\n",
              options.shard.index, options.shard.count, options.bind_address.c_str(), server.port(),
              server.restored() ? " (restored from its latest checkpoint)" : "", job.world_rank(),
              endpoint.c_str());
  std::fflush(stdout);

  // Static: the detached waiter may outlive this function.
  static std::atomic<int> signalled{0};
  std::thread signal_waiter([signals] {
    int received = 0;
    sigwait(&signals, &received);
    signalled = received;
  });
  signal_waiter.detach();

  std::atomic<bool> served{false};
  std::exception_ptr failure;
  std::thread serving([&] {
    try {
      server.serve();
    } catch (...) {
      failure = std::current_exception();
    }
    served = true;
  });
  bool trainers_finished = false;
  try {
    job.exchange_endpoints(endpoint);
    using Clock = std::chrono::steady_clock;
    Clock::time_point deadline = Clock::time_point::max();
    while (!(trainers_finished = job.poll_finished()) && !served) {
      if (signalled != 0 && deadline == Clock::time_point::max()) {
        std::fprintf(stderr,
                     "hybrec ps: signal %d: serving until the trainers checkpoint and finish "
                     "(at most %.0f s)\n",
                     signalled.load(), drain_timeout_s);
        deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(drain_timeout_s));
      }
      if (Clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  } catch (...) {
    server.stop();
    serving.join();
    throw;
  }
  server.stop();
  serving.join();
  if (failure) std::rethrow_exception(failure);
  HYBREC_CHECK(trainers_finished, "hybrec ps: shard ", options.shard.index, "/",
               options.shard.count, " stopped before every trainer finished",
               signalled != 0 ? " (signal " + std::to_string(signalled.load()) + ", then " +
                                    std::to_string(drain_timeout_s) + " s without them finishing)"
                              : std::string());
  job.finish();
  std::printf("hybrec ps: shard %d/%d stopped after every trainer finished%s\n",
              options.shard.index, options.shard.count,
              options.checkpoint_dir.empty() ? "" : " (final checkpoint taken)");
  return 0;
}

}  // namespace

int run_ps(int argc, char** argv) {
  Flags flags("hybrec ps",
              "hybrec ps --port P [--shard I/N] [--checkpoint-dir DIR] [options]\n"
              "       mpirun -np P hybrec ps --mpi --port 0 [options] : -np W hybrec train ...");
  flags.add("port", "P", "TCP port to serve on (0: any free port, printed at start)");
  flags.add("shard", "I/N", "this server is shard I of N (default 0/1)");
  flags.add("mpi", "",
            "serve as one server rank of an MPMD mpirun job: the shard is the rank among the "
            "server ranks, the endpoint is published to the trainers, and the server stops "
            "once every trainer finished");
  flags.add("bind", "ADDR", "address to bind (default 127.0.0.1, loopback only)");
  flags.add("advertise", "HOST",
            "with --mpi: the host trainers dial (default: the bind address, or the hostname "
            "when bound to 0.0.0.0)");
  flags.add("checkpoint-dir", "DIR", "where save/load and periodic checkpoints live");
  flags.add("checkpoint-every", "S", "also checkpoint to DIR/latest every S seconds");
  flags.add("threads", "T",
            "requests processed at once (default 64); open connections cost no thread");
  flags.add("io-threads", "T", "event loops reading and writing connections (default 2)");
  flags.add("max-frame-mib", "M", "largest request or reply frame (default 256)");
  flags.add("idle-timeout-s", "S", "drop a connection idle or stalled this long (default 300)");
  flags.add("drain-timeout-s", "S",
            "with --mpi: after SIGTERM/SIGINT/SIGUSR1, serve the trainers' final checkpoint "
            "for up to S seconds before stopping (default 120)");
  add_ps_auth_flags(flags, true);
  flags.add("insecure", "",
            "allow --bind to a non-loopback address without --tls-* or --auth-token-file");
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
  const bool mpi = flags.has("mpi");
  HYBREC_CHECK(!(mpi && flags.has("shard")),
               "hybrec ps: --shard and --mpi exclude each other (with --mpi the shard is the "
               "rank among the server ranks)");
  HYBREC_CHECK(mpi || !flags.has("advertise"), "hybrec ps: --advertise needs --mpi");
  HYBREC_CHECK(mpi || !flags.has("drain-timeout-s"), "hybrec ps: --drain-timeout-s needs --mpi");
  if (!mpi) options.shard = parse_shard(flags.get("shard", "0/1"));
  options.bind_address = flags.get("bind", options.bind_address);
  options.checkpoint_dir = flags.get("checkpoint-dir", "");
  options.checkpoint_interval_s = flags.get_double("checkpoint-every", 0, 0, 1e7);
  options.threads = static_cast<int>(flags.get_int("threads", 64, 1, 4096));
  options.io_threads = static_cast<int>(flags.get_int("io-threads", 2, 1, 64));
  options.tls = tls_files(flags);
  options.auth_token_file = auth_token_file(flags);
  options.insecure = flags.has("insecure");
  options.max_frame_bytes = flags.get_int("max-frame-mib", 256, 1, 2047) << 20;
  options.idle_timeout_ms = static_cast<int>(flags.get_int("idle-timeout-s", 300, 1, 86400) * 1000);

  // Termination signals go to one thread that asks the server to drain;
  // they are blocked before any other thread exists so none inherits them.
  // SIGUSR1 (hybrec-launch's checkpoint request, forwarded by mpirun to every
  // rank) is blocked too: it concerns trainers, and a standalone server
  // ignores it.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (mpi) {
    return serve_mpi_rank(options, flags.get("advertise", ""), signals,
                          flags.get_double("drain-timeout-s", 120, 0, 86400));
  }
  sigdelset(&signals, SIGUSR1);

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
