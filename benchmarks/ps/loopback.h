// The limit the parameter-server benchmarks are measured against, in the
// same run: request/response round trips over one connected 127.0.0.1 TCP
// socket between two threads, carrying nothing but the bytes (no Thrift
// framing or serialisation, no routing, no row lookups, no copies beyond the
// socket calls). A pull of K keys of dim D is one round trip of K*8 bytes
// out and K*D*4 bytes back; a push is K*8 + K*D*4 bytes out and a small
// reply back; the same shapes here give the bandwidth the PS could reach at
// best over the same loopback on the same machine.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>

namespace hybrec::bench {

struct RoundTrip {
  int64_t request_bytes = 0;  // written by the benchmark thread
  int64_t reply_bytes = 0;    // answered by the peer thread once a request is read whole
  int64_t counted_bytes = 0;  // what counter "bytes" adds per round trip
  int64_t rows = 0;           // what counter "rows" adds per round trip
};

// One round trip per iteration. Every benchmark thread (->Threads(n)) gets
// its own connection and peer thread. Counters (rates, summed over threads):
// "bytes" (round_trip.counted_bytes each) and "rows" (round_trip.rows each).
void loopback_tcp_bench(benchmark::State& state, const RoundTrip& round_trip);

}  // namespace hybrec::bench
