// What `hybrec serve` reports on /metrics: requests counted by interface and
// outcome, their latencies as a histogram, and the served run's state
// (ServeHealth), in Prometheus text exposition format 0.0.4. Every metric is
// named hybrec_serve_*.
//
// Every interface calls observe() once per answered request, whatever the
// outcome:
//
//   const auto start = std::chrono::steady_clock::now();
//   ... answer ...
//   metrics.observe(Interface::kThrift, seconds_since(start), Outcome::kBadRequest);
//
// A batch of requests is one observation (one call, one latency).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "serving/served_run.h"

namespace hybrec::serving {

enum class Interface { kHttp, kThrift };
enum class Outcome {
  kOk,          // answered
  kBadRequest,  // the client's mistake (BadRequest, malformed input): HTTP 4xx
  kError,       // the server's failure: HTTP 5xx
};

// Seconds from `start` to now, for observe().
double seconds_since(std::chrono::steady_clock::time_point start);

class Metrics {
 public:
  // The histogram's upper bounds in seconds (Prometheus' `le`), 0.5 ms to
  // 2.5 s: a top-k over the catalogue takes about a millisecond; seconds
  // mean a stalled parameter server.
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

  // Records one answered request. Thread-safe; never throws.
  void observe(Interface interface, double seconds, Outcome outcome);

  // The exposition text: the request counters and histograms of every
  // interface (zero until it answers), then the served run's gauges and
  // counters from `health`.
  std::string render(const ServeHealth& health) const;

 private:
  struct Series {
    std::array<int64_t, 3> outcomes{};               // by Outcome
    std::array<int64_t, kBuckets.size()> buckets{};  // not cumulative; render() sums
    double seconds = 0;
    int64_t count = 0;
  };
  mutable std::mutex mutex_;
  std::array<Series, 2> series_;  // by Interface
};

}  // namespace hybrec::serving
