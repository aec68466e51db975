#include "trainer/dist/grad_buckets.h"

#include <algorithm>
#include <exception>

#include "hybrec/kernels/elementwise.h"
#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

GradBuckets::GradBuckets(Communicator& comm, float* grad, int64_t n, int64_t bucket_bytes,
                         const kernels::Device& device)
    : comm_(comm), device_(device), grad_(grad), n_(n), ready_from_(n) {
  HYBREC_CHECK(n >= 0 && (n == 0 || grad != nullptr), "GradBuckets: ", n, " elements at ",
               static_cast<void*>(grad));
  HYBREC_CHECK(bucket_bytes >= static_cast<int64_t>(sizeof(float)), "GradBuckets: bucket of ",
               bucket_bytes, " bytes is smaller than one float");
  bucket_elements_ = bucket_bytes / static_cast<int64_t>(sizeof(float));
  num_buckets_ = (n + bucket_elements_ - 1) / bucket_elements_;
  pending_.reserve(static_cast<size_t>(num_buckets_));
}

GradBuckets::~GradBuckets() {
  if (std::uncaught_exceptions() > 0) return;
  try {
    for (auto& pending : pending_) pending->wait();
  } catch (const std::exception&) {
  }
}

int64_t GradBuckets::bucket_begin(int64_t k) const {
  return std::max<int64_t>(0, n_ - (k + 1) * bucket_elements_);
}

void GradBuckets::on_ready(int64_t begin, int64_t end) {
  HYBREC_CHECK(end == ready_from_ && begin < end && begin >= 0, "GradBuckets: ready range [", begin,
               ", ", end, ") does not continue downwards from ", ready_from_,
               " (ranges must arrive in decreasing order and cover [0, ", n_, ") once)");
  ready_from_ = begin;
  start_ready_buckets();
}

void GradBuckets::start_ready_buckets() {
  while (next_bucket_ < num_buckets_ && ready_from_ <= bucket_begin(next_bucket_)) {
    const int64_t begin = bucket_begin(next_bucket_);
    const int64_t end = n_ - next_bucket_ * bucket_elements_;
    pending_.push_back(comm_.start_allreduce_sum(grad_ + begin, end - begin));
    ++next_bucket_;
  }
}

void GradBuckets::finish(bool average) {
  HYBREC_CHECK(ready_from_ == 0 || ready_from_ == n_, "GradBuckets::finish: [0, ", ready_from_,
               ") of the gradient was never reported ready");
  ready_from_ = 0;
  start_ready_buckets();
  for (auto& pending : pending_) pending->wait();
  pending_.clear();
  if (average && comm_.size() > 1) {
    const float scale = 1.0f / static_cast<float>(comm_.size());
    kernels::scale(device_, scale, grad_, n_, grad_);
  }
  ready_from_ = n_;
  next_bucket_ = 0;
}

}  // namespace hybrec::trainer
