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

void NatsOutage::failed(const std::string& why) {
  using std::chrono::steady_clock;
  const auto now = steady_clock::now();
  if (!reported_) {
    reported_ = true;
    start_ = now;
    std::fprintf(stderr, "hybrec: NATS broker %s unreachable (%s); retrying for up to %.1f s\n",
                 url_.url.c_str(), why.c_str(), seconds(retry_for_));
    std::fflush(stderr);
  }
  const auto spent = now - start_;
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
