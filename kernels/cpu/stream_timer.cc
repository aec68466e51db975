// StreamTimer: the host clock on the CPU, CUDA events (cuda/device.cu) on CUDA.
#include "hybrec/kernels/stream_timer.h"

#include <chrono>

#include "cuda/runtime.h"

namespace hybrec::kernels {

StreamTimer::StreamTimer(const Device& device, int marks)
    : device_(device), marked_(static_cast<std::size_t>(marks), false) {
  HYBREC_CHECK(marks >= 2, "StreamTimer: ", marks, " marks (a span needs 2)");
  if (device_.is_cuda()) {
    for (int i = 0; i < marks; ++i) events_.push_back(cuda::event_create());
  } else {
    host_.assign(static_cast<std::size_t>(marks), 0.0);
  }
}

StreamTimer::~StreamTimer() {
  for (void* event : events_) cuda::event_destroy(event);
}

void StreamTimer::mark(int index) {
  HYBREC_CHECK(index >= 0 && index < static_cast<int>(marked_.size()), "StreamTimer::mark: mark ",
               index, " of ", marked_.size());
  if (device_.is_cuda()) {
    cuda::event_record(events_[index], device_.stream);
  } else {
    host_[index] =
        std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  marked_[index] = true;
}

double StreamTimer::seconds(int a, int b) const {
  HYBREC_CHECK(marked(a) && marked(b), "StreamTimer::seconds: mark ", marked(a) ? b : a,
               " was not recorded");
  if (device_.is_cuda()) return cuda::event_elapsed_seconds(events_[a], events_[b]);
  return host_[b] - host_[a];
}

void StreamTimer::clear() { marked_.assign(marked_.size(), false); }

}  // namespace hybrec::kernels
