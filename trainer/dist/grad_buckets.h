// Bucketed all-reduce of a flat dense gradient, overlapped with the backward.
//
// The backward reports ranges of the gradient that are final through
// on_ready(begin, end), in decreasing order of offset, covering [0, n)
// exactly once per step (HybridModel::StepOutputs::grad_ready):
//
//   GradBuckets buckets(comm, grad, n, config.bucket_kib << 10);
//   out.grad_ready = [&](int64_t b, int64_t e) { buckets.on_ready(b, e); };
//   model.forward_backward(in, out);
//   buckets.finish(/*average=*/true);  // grad now holds the mean over ranks
//
// Buckets are fixed: bucket k is [max(0, n - (k+1) * B), n - k * B) with B =
// bucket_bytes / sizeof(float), counted from the top because the backward
// finishes the highest offsets first. Fixed boundaries make every rank issue
// the same all-reduces in the same order however its ranges are cut. A
// bucket's all-reduce starts as soon as every one of its elements is ready;
// the lowest bucket (at offset 0) may be smaller. finish() waits for them
// all in start order, then scales by 1/size when asked. The object is then
// ready for the next step.
//
// Threads: on_ready and finish are called from one thread (the one that
// owns the communicator).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "hybrec/kernels/device.h"
#include "trainer/dist/communicator.h"

namespace hybrec::trainer {

class GradBuckets {
 public:
  static constexpr int64_t kDefaultBucketBytes = int64_t{1} << 20;

  // grad [n] stays the caller's and must outlive this object; it lives on
  // `device` (where the averaging runs; the communicator must take that
  // memory: NCCL for CUDA buffers). Throws hybrec::Error for n < 0 or
  // bucket_bytes < sizeof(float).
  GradBuckets(Communicator& comm, float* grad, int64_t n,
              int64_t bucket_bytes = kDefaultBucketBytes,
              const kernels::Device& device = kernels::Device::cpu());
  ~GradBuckets();  // waits for what is in flight (unless an exception unwinds)
  GradBuckets(const GradBuckets&) = delete;
  GradBuckets& operator=(const GradBuckets&) = delete;

  // [begin, end) is final. Throws hybrec::Error unless end equals the lowest
  // offset reported so far this step (n at the start) and begin < end.
  void on_ready(int64_t begin, int64_t end);

  // Starts what is left (everything, if the backward reported nothing),
  // waits for every bucket and, with average, multiplies by 1/size. Throws
  // hybrec::Error if the step reported part of [0, n) but not all of it.
  void finish(bool average = true);

  int64_t num_buckets() const { return num_buckets_; }
  int64_t bucket_elements() const { return bucket_elements_; }
  // Buckets whose all-reduce has been started this step.
  int64_t started() const { return next_bucket_; }

 private:
  int64_t bucket_begin(int64_t k) const;
  void start_ready_buckets();

  Communicator& comm_;
  kernels::Device device_;
  float* grad_;
  int64_t n_;
  int64_t bucket_elements_;
  int64_t num_buckets_;
  int64_t ready_from_;       // [ready_from_, n) is final this step
  int64_t next_bucket_ = 0;  // first bucket not yet started
  std::vector<std::unique_ptr<Communicator::Pending>> pending_;
};

}  // namespace hybrec::trainer
