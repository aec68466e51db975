// Time on a device's stream between marks: the trainer's step breakdown on
// the device's own clock.
//
// On CUDA each mark is a cudaEvent recorded on the device's stream, so the
// span between two marks is what the GPU measured between those two points
// of its queue: the work enqueued in between, plus any gap in which the
// queue ran dry waiting for the host to enqueue more (so a span is an upper
// bound of the GPU's busy time in it). On the CPU a mark is the host clock
// when mark() is called, and a span is the host's time.
#pragma once

#include <vector>

#include "hybrec/kernels/device.h"

namespace hybrec::kernels {

class StreamTimer {
 public:
  StreamTimer(const Device& device, int marks);
  ~StreamTimer();
  StreamTimer(const StreamTimer&) = delete;
  StreamTimer& operator=(const StreamTimer&) = delete;

  // Records mark `index` (0 <= index < marks) at the stream's current end.
  void mark(int index);
  bool marked(int index) const { return marked_.at(index); }
  // Seconds from mark a to mark b, both marked since the last clear(); on
  // CUDA this waits until the stream has passed mark b.
  double seconds(int a, int b) const;
  // Forgets every mark.
  void clear();

 private:
  Device device_;
  std::vector<void*> events_;  // CUDA: one cudaEvent_t per mark
  std::vector<double> host_;   // CPU: the host clock at each mark, in seconds
  std::vector<bool> marked_;
};

}  // namespace hybrec::kernels
