// Freshness of `hybrec serve` (issue 14, BENCHMARKS.md "Serving and
// real-time"): the time from an event's publish to the first recommend
// answer that reflects it.
//
// For each of N events, at a steady rate: pick a user, ask the server for
// the user's top item x (GET /recommend?user=U&k=1), publish the event
// (U, x) into the stream the server reads, then ask again every poll
// interval until the top item is no longer x (exclude_seen drops what the
// user has just seen): the answer reflects the event. Latency = that
// answer's arrival minus the publish's return (the event is durable then).
// Prints p50, p90, p99 and max in milliseconds, and the events whose answer
// never changed within the timeout.
//
//   bench_serving_freshness --serve 127.0.0.1:8080 --stream file:events.jsonl
//                           [--events 1000] [--rate 10] [--users 6000] [--seed 1]
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "trainer/stream/event_source.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string serve, stream;
  int events = 1000;
  double rate = 10;
  int64_t users = 6000;
  uint64_t seed = 1;
  double poll_ms = 2, timeout_s = 10;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--serve") a.serve = value;
    else if (flag == "--stream") a.stream = value;
    else if (flag == "--events") a.events = std::stoi(value);
    else if (flag == "--rate") a.rate = std::stod(value);
    else if (flag == "--users") a.users = std::stoll(value);
    else if (flag == "--seed") a.seed = std::stoull(value);
    else if (flag == "--poll-ms") a.poll_ms = std::stod(value);
    else if (flag == "--timeout-s") a.timeout_s = std::stod(value);
    else {
      std::cerr << "bench_serving_freshness: unknown flag " << flag << "\n";
      std::exit(2);
    }
  }
  if (a.serve.empty() || a.stream.empty()) {
    std::cerr << "usage: bench_serving_freshness --serve HOST:PORT --stream URL [--events N] "
                 "[--rate R] [--users U] [--seed S] [--poll-ms P] [--timeout-s T]\n";
    std::exit(2);
  }
  return a;
}

// The user's top item, or -1 when the server did not answer.
int64_t top_item(httplib::Client& http, int64_t user) {
  const auto res = http.Get("/recommend?k=1&user=" + std::to_string(user));
  if (!res || res->status != 200) return -1;
  const nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
  if (j.is_discarded() || j["items"].empty()) return -1;
  return j["items"][0]["item"].get<int64_t>();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  const std::size_t colon = a.serve.rfind(':');
  httplib::Client http(a.serve.substr(0, colon), std::stoi(a.serve.substr(colon + 1)));
  http.set_keep_alive(true);
  http.set_tcp_nodelay(true);
  std::unique_ptr<hybrec::trainer::EventSink> sink = hybrec::trainer::open_event_sink(a.stream);
  std::mt19937_64 rng(a.seed);
  std::uniform_int_distribution<int64_t> pick(0, a.users - 1);

  std::vector<double> latencies_ms;
  int missed = 0, unanswered = 0;
  const auto start = Clock::now();
  for (int i = 0; i < a.events; ++i) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(i / a.rate)));
    const int64_t user = pick(rng);
    const int64_t before = top_item(http, user);
    if (before < 0) {
      ++unanswered;
      continue;
    }
    hybrec::trainer::StreamEvent e;
    e.user = user;
    e.item = before;
    e.timestamp = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    sink->publish(e);
    const auto published = Clock::now();
    bool seen = false;
    while (std::chrono::duration<double>(Clock::now() - published).count() < a.timeout_s) {
      const int64_t now = top_item(http, user);
      if (now >= 0 && now != before) {
        latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - published).count());
        seen = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(a.poll_ms));
    }
    if (!seen) ++missed;
  }
  std::printf("events %d  reflected %zu  missed %d  unanswered %d\n", a.events,
              latencies_ms.size(), missed, unanswered);
  std::printf("freshness_ms p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n",
              percentile(latencies_ms, 0.5), percentile(latencies_ms, 0.9),
              percentile(latencies_ms, 0.99), percentile(latencies_ms, 1.0));
  return missed == 0 && unanswered == 0 ? 0 : 1;
}
