// Load on `hybrec serve` (issue 14, BENCHMARKS.md "Serving and real-time"):
// concurrent clients, each with its own connection (HTTP keep-alive, or the
// Thrift port with --protocol thrift), asking for random users' top k.
//
//   closed loop (--rate 0): every client sends its next request as soon as
//     the last one is answered: the maximum throughput at that concurrency;
//   open loop (--rate R): requests are sent at R per second in total, spread
//     over the clients on a fixed schedule, and latency counts from the
//     scheduled send time (so a stalled server is not hidden by clients that
//     wait for it: coordinated omission).
// Prints QPS, p50/p90/p99/max latency in ms, and failed requests (an answer
// that is not k items, an HTTP status other than 200, a Thrift exception, or
// no answer).
//
//   bench_serving_load --serve 127.0.0.1:8080 [--protocol http|thrift]
//                      [--clients 4] [--seconds 10] [--rate 0] [--users 6000]
//                      [-k 10] [--batch 1]
// --batch B sends B requests in one round trip (POST /recommend with a
// "requests" body, or recommend_batch) and counts B answers per round trip.
#include <httplib.h>
#include <thrift/Thrift.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "serving/wire/connection.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string serve, protocol = "http";
  int clients = 4;
  double seconds = 10, rate = 0;
  int64_t users = 6000, k = 10, batch = 1;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--serve")
      a.serve = value;
    else if (flag == "--protocol")
      a.protocol = value;
    else if (flag == "--clients")
      a.clients = std::stoi(value);
    else if (flag == "--seconds")
      a.seconds = std::stod(value);
    else if (flag == "--rate")
      a.rate = std::stod(value);
    else if (flag == "--users")
      a.users = std::stoll(value);
    else if (flag == "-k")
      a.k = std::stoll(value);
    else if (flag == "--batch")
      a.batch = std::stoll(value);
    else {
      std::cerr << "bench_serving_load: unknown flag " << flag << "\n";
      std::exit(2);
    }
  }
  if (a.serve.empty() || a.clients < 1 || a.batch < 1 ||
      (a.protocol != "http" && a.protocol != "thrift")) {
    std::cerr << "usage: bench_serving_load --serve HOST:PORT [--protocol http|thrift] "
                 "[--clients N] [--seconds S] [--rate R] [--users U] [-k K] [--batch B]\n";
    std::exit(2);
  }
  return a;
}

// One client's connection: one round trip per ask(), true when every
// answer has k items.
class LoadClient {
 public:
  virtual ~LoadClient() = default;
  virtual bool ask(const Args& a, std::mt19937_64& rng) = 0;
};

class HttpLoadClient : public LoadClient {
 public:
  HttpLoadClient(const std::string& host, int port) : http_(host, port) {
    http_.set_keep_alive(true);
    http_.set_tcp_nodelay(true);
  }

  bool ask(const Args& a, std::mt19937_64& rng) override {
    std::uniform_int_distribution<int64_t> pick(0, a.users - 1);
    if (a.batch == 1) {
      const auto res =
          http_.Get("/recommend?k=" + std::to_string(a.k) + "&user=" + std::to_string(pick(rng)));
      if (!res || res->status != 200) return false;
      const nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
      return !j.is_discarded() && static_cast<int64_t>(j["items"].size()) == a.k;
    }
    nlohmann::json body;
    for (int64_t b = 0; b < a.batch; ++b) {
      body["requests"].push_back({{"user", pick(rng)}, {"k", a.k}});
    }
    const auto res = http_.Post("/recommend", body.dump(), "application/json");
    if (!res || res->status != 200) return false;
    const nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_discarded() || static_cast<int64_t>(j["replies"].size()) != a.batch) return false;
    for (const auto& reply : j["replies"]) {
      if (static_cast<int64_t>(reply["items"].size()) != a.k) return false;
    }
    return true;
  }

 private:
  httplib::Client http_;
};

namespace wire = hybrec::serving::wire;

class ThriftLoadClient : public LoadClient {
 public:
  explicit ThriftLoadClient(const wire::Address& address) : connection_(address) {}

  bool ask(const Args& a, std::mt19937_64& rng) override {
    std::uniform_int_distribution<int64_t> pick(0, a.users - 1);
    std::vector<wire::RecommendRequest> requests(static_cast<std::size_t>(a.batch));
    for (auto& request : requests) {
      request.__set_user(pick(rng));
      request.k = a.k;
      request.exclude_seen = true;
    }
    try {
      if (a.batch == 1) {
        wire::RecommendReply reply;
        connection_.client().recommend(reply, requests[0]);
        return static_cast<int64_t>(reply.items.size()) == a.k;
      }
      std::vector<wire::RecommendReply> replies;
      connection_.client().recommend_batch(replies, requests);
      if (static_cast<int64_t>(replies.size()) != a.batch) return false;
      for (const auto& reply : replies) {
        if (static_cast<int64_t>(reply.items.size()) != a.k) return false;
      }
      return true;
    } catch (const apache::thrift::TException&) {
      // A refused request (ServingError) leaves the connection usable; a
      // transport failure does not, and every later ask fails too.
      return false;
    }
  }

 private:
  wire::Connection connection_;
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  const wire::Address address = wire::parse_address(a.serve);

  // Connected before the clock starts (a Thrift connection checks the wire
  // version on connect, and an unreachable server is an error here).
  std::vector<std::unique_ptr<LoadClient>> connections;
  try {
    for (int c = 0; c < a.clients; ++c) {
      if (a.protocol == "thrift")
        connections.push_back(std::make_unique<ThriftLoadClient>(address));
      else
        connections.push_back(std::make_unique<HttpLoadClient>(address.host, address.port));
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_serving_load: " << e.what() << "\n";
    return 2;
  }
  std::mutex mutex;
  std::vector<double> latencies_ms;
  std::atomic<int64_t> failed{0}, answered{0};
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  std::vector<std::thread> clients;
  for (int c = 0; c < a.clients; ++c) {
    clients.emplace_back([&, c] {
      LoadClient* client = connections[c].get();
      std::mt19937_64 rng(1000 + c);
      std::vector<double> mine;
      // Open loop: client c sends requests c, c + clients, ... of the schedule.
      const double interval = a.rate > 0 ? a.clients / a.rate : 0;
      for (int64_t i = 0;; ++i) {
        auto send_at = Clock::now();
        if (a.rate > 0) {
          send_at =
              start + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(interval * (i + c / double(a.clients))));
          std::this_thread::sleep_until(send_at);
        }
        if (send_at >= end) break;
        const bool ok = client->ask(a, rng);
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - send_at).count());
        if (ok)
          answered += a.batch;
        else
          ++failed;
      }
      std::lock_guard<std::mutex> lock(mutex);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
    });
  }
  for (std::thread& t : clients) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  std::printf("%s  clients %d  batch %lld  rate %s  answers %lld  failed %lld  qps %.1f\n",
              a.protocol.c_str(), a.clients, static_cast<long long>(a.batch),
              a.rate > 0 ? std::to_string(a.rate).c_str() : "max",
              static_cast<long long>(answered.load()), static_cast<long long>(failed.load()),
              answered.load() / elapsed);
  std::printf("latency_ms p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", percentile(latencies_ms, 0.5),
              percentile(latencies_ms, 0.9), percentile(latencies_ms, 0.99),
              percentile(latencies_ms, 1.0));
  return failed.load() == 0 ? 0 : 1;
}
