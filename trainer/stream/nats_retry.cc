#include "trainer/stream/nats_retry.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{50};
constexpr std::chrono::milliseconds kMaxBackoff{1000};

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

NatsOutage::NatsOutage(const NatsUrl& url, std::chrono::milliseconds retry_for)
    : url_(url), retry_for_(retry_for) {}

void NatsOutage::report(const std::string& why) {
  if (reported_) return;
  reported_ = true;
  start_ = std::chrono::steady_clock::now();
  std::fprintf(stderr, "hybrec: NATS broker %s unreachable (%s); retrying for up to %.1f s\n",
               url_.url.c_str(), why.c_str(), seconds(retry_for_));
  std::fflush(stderr);
}

void NatsOutage::failed(const std::string& why) {
  report(why);
  const auto spent = std::chrono::steady_clock::now() - start_;
  if (spent >= retry_for_) {
    HYBREC_THROW("NATS broker ", url_.url, " unreachable for ", seconds(spent),
                 " s, giving up: ", why);
  }
  backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(retry_for_ - spent);
  // Sleep at most to the deadline, then one last attempt, then give up.
  std::this_thread::sleep_for(std::min(backoff_, left + std::chrono::milliseconds(1)));
}

}  // namespace hybrec::trainer
