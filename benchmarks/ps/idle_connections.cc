// `ps-ctl health` latency while a shard holds many idle connections.
//
// BM_HealthWithIdleConnections/idle:N: an in-process PsServer (4 workers)
// with N open TCP connections that never send a byte; each iteration is what
// `hybrec ps-ctl health` does: a fresh PsClient connects, asks health, and
// disconnects. The time per iteration is that latency (target: under 100 ms
// at 1,000 idle connections; a thread-per-connection server with 64 threads
// did not answer at all until its idle timeout dropped some).
// idle:10 is the CI smoke case (--benchmark_filter=Small).
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "parameter_server/client/client.h"
#include "parameter_server/server/server.h"

namespace hybrec::ps {
namespace {

int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void health_with_idle(benchmark::State& state) {
  const int idle = static_cast<int>(state.range(0));
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur =
      std::max<rlim_t>(limit.rlim_cur, std::min<rlim_t>(limit.rlim_max, 2 * idle + 256));
  setrlimit(RLIMIT_NOFILE, &limit);

  ServerOptions options;
  options.threads = 4;
  PsServer server(options);
  std::thread serving([&] { server.serve(); });
  std::vector<int> sockets;
  for (int i = 0; i < idle; ++i) {
    const int fd = connect_loopback(server.port());
    if (fd < 0) {
      state.SkipWithError("could not open the idle connections (RLIMIT_NOFILE?)");
      break;
    }
    sockets.push_back(fd);
  }
  ClientOptions client_options;
  client_options.max_attempts = 1;
  for (auto _ : state) {
    PsClient client({Endpoint{"127.0.0.1", server.port()}}, client_options);
    const auto health = client.health();
    if (!health[0].reachable) state.SkipWithError(health[0].error.c_str());
  }
  state.counters["idle_connections"] = static_cast<double>(sockets.size());
  for (int fd : sockets) ::close(fd);
  server.stop();
  serving.join();
}

void BM_HealthWithIdleConnections(benchmark::State& state) { health_with_idle(state); }
void BM_HealthWithIdleConnectionsSmall(benchmark::State& state) { health_with_idle(state); }

BENCHMARK(BM_HealthWithIdleConnections)
    ->ArgName("idle")
    ->Arg(0)
    ->Arg(1000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_HealthWithIdleConnectionsSmall)
    ->ArgName("idle")
    ->Arg(10)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace hybrec::ps
