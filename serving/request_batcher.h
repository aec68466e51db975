// Micro-batching: concurrent single requests (one per HTTP or Thrift worker)
// are scored together, one Recommender::recommend over the batch, so the
// catalogue is read once per batch instead of once per request. A request
// waits at most `max_wait` for company; when the scorer is busy, the
// requests that arrive meanwhile form the next batch, so under load batches
// grow by themselves and at low load a request is scored at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "serving/recommender.h"

namespace hybrec::serving {

class RequestBatcher {
 public:
  RequestBatcher(const Recommender& recommender, int64_t max_batch = 64,
                 std::chrono::microseconds max_wait = std::chrono::microseconds(200));
  ~RequestBatcher();  // answers what is queued, then stops
  RequestBatcher(const RequestBatcher&) = delete;
  RequestBatcher& operator=(const RequestBatcher&) = delete;

  // Blocks until scored. A bad request throws BadRequest at once and never
  // joins a batch, so one caller's mistake cannot fail another's request.
  RecommendReply recommend(const RecommendRequest& request);

  // Batches scored and requests in them so far (for /metrics).
  int64_t batches() const;
  int64_t batched_requests() const;

 private:
  struct Pending {
    RecommendRequest request;
    std::promise<RecommendReply> reply;
  };
  void run();

  const Recommender& recommender_;
  const int64_t max_batch_;
  const std::chrono::microseconds max_wait_;
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  int64_t batches_ = 0, batched_requests_ = 0;
  std::thread thread_;
};

}  // namespace hybrec::serving
