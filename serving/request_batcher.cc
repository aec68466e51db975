#include "serving/request_batcher.h"

#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::serving {

RequestBatcher::RequestBatcher(const Recommender& recommender, int64_t max_batch,
                               std::chrono::microseconds max_wait)
    : recommender_(recommender), max_batch_(max_batch), max_wait_(max_wait) {
  HYBREC_CHECK(max_batch >= 1, "RequestBatcher: max_batch = ", max_batch);
  thread_ = std::thread([this] { run(); });
}

RequestBatcher::~RequestBatcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  arrived_.notify_all();
  thread_.join();
}

RecommendReply RequestBatcher::recommend(const RecommendRequest& request) {
  recommender_.validate(request);
  std::future<RecommendReply> reply;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    HYBREC_CHECK(!stopping_, "the server is stopping");
    queue_.push_back(Pending{request, {}});
    reply = queue_.back().reply.get_future();
  }
  arrived_.notify_one();
  return reply.get();
}

void RequestBatcher::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    arrived_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping with nothing left
    // A short wait for company, unless a full batch is already there.
    if (static_cast<int64_t>(queue_.size()) < max_batch_ && !stopping_) {
      arrived_.wait_for(lock, max_wait_, [this] {
        return stopping_ || static_cast<int64_t>(queue_.size()) >= max_batch_;
      });
    }
    std::vector<Pending> batch;
    while (!queue_.empty() && static_cast<int64_t>(batch.size()) < max_batch_) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    ++batches_;
    batched_requests_ += static_cast<int64_t>(batch.size());
    lock.unlock();
    std::vector<RecommendRequest> requests;
    requests.reserve(batch.size());
    for (const Pending& p : batch) requests.push_back(p.request);
    try {
      std::vector<RecommendReply> replies = recommender_.recommend(requests);
      for (std::size_t i = 0; i < batch.size(); ++i) batch[i].reply.set_value(std::move(replies[i]));
    } catch (...) {
      for (Pending& p : batch) p.reply.set_exception(std::current_exception());
    }
    lock.lock();
  }
}

int64_t RequestBatcher::batches() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return batches_;
}

int64_t RequestBatcher::batched_requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return batched_requests_;
}

}  // namespace hybrec::serving
