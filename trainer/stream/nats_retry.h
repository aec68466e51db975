// Riding out a broker that is down or restarting: the source's poll and the
// sink's publish retry with backoff for a bounded time, say so on stderr
// once per outage, and throw a hybrec::Error naming the broker only when
// that time is spent.
#pragma once

#include <chrono>
#include <string>

#include "trainer/stream/nats_link.h"
#include "trainer/stream/nats_url.h"

namespace hybrec::trainer {

class NatsOutage {
 public:
  NatsOutage(const NatsUrl& url, std::chrono::milliseconds retry_for);

  // After a failed attempt (`why` is its NatsUnavailable message): the
  // first call prints one line on stderr; each call sleeps the next backoff
  // (50 ms doubling to 1 s, never past the budget) or, once retry_for has
  // passed since the first failure, throws hybrec::Error naming the broker.
  void failed(const std::string& why);

  // The outage began before the first attempt (a connection found lost):
  // prints the line and starts the clock, without sleeping.
  void report(const std::string& why);

 private:
  const NatsUrl& url_;
  std::chrono::milliseconds retry_for_;
  std::chrono::steady_clock::time_point start_{};
  std::chrono::milliseconds backoff_{0};
  bool reported_ = false;
};

// Calls attempt() until it returns without throwing NatsUnavailable, and
// returns what it returned; a hybrec::Error from it passes straight
// through (a refusal does not get better by asking again). A non-empty
// `lost` says the broker was already found gone (and why).
template <typename Attempt>
auto with_nats_retry(const NatsUrl& url, std::chrono::milliseconds retry_for, Attempt&& attempt,
                     const std::string& lost = "") {
  NatsOutage outage(url, retry_for);
  if (!lost.empty()) outage.report(lost);
  for (;;) {
    try {
      return attempt();
    } catch (const NatsUnavailable& e) {
      outage.failed(e.what());
    }
  }
}

}  // namespace hybrec::trainer
