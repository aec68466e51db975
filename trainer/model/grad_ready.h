// Reports finished ranges of the flat dense gradient to the trainer's
// grad_ready callback: each call hands over [begin, end of the previous
// range), so the ranges are disjoint, in decreasing order of offset, and
// cover the buffer exactly once when the last call is finish(0).
#pragma once

#include <cstdint>
#include <functional>

namespace hybrec::trainer {

class GradReadyTracker {
 public:
  GradReadyTracker(const std::function<void(int64_t, int64_t)>& callback, int64_t num_params)
      : callback_(callback), end_(num_params) {}

  // Everything from `begin` to the end of the not-yet-reported part is final.
  void finish(int64_t begin) {
    if (begin < 0 || begin >= end_) return;
    if (callback_) callback_(begin, end_);
    end_ = begin;
  }

 private:
  const std::function<void(int64_t, int64_t)>& callback_;
  int64_t end_;
};

}  // namespace hybrec::trainer
