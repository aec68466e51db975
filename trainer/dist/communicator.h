// Collective communication among the trainer ranks, one interface with an
// MPI implementation (CPU buffers) and an NCCL one (GPU buffers). The trainer
// all-reduces its dense gradients through it in buckets: start() a bucket as
// soon as the backward has finished it, wait() for all before the optimizer
// step.
#pragma once

#include <cstdint>
#include <memory>

namespace hybrec::trainer {

class Communicator {
 public:
  // A started collective; wait() blocks until its result is in place.
  class Pending {
   public:
    virtual ~Pending() = default;
    virtual void wait() = 0;
  };

  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend() const = 0;  // "mpi", "nccl", "local"

  // In place: data[0..count) <- sum over ranks. Every rank gets the
  // bit-identical result. Returns at once; the buffer must stay untouched
  // until wait().
  virtual std::unique_ptr<Pending> start_allreduce_sum(float* data, int64_t count) = 0;
  void allreduce_sum(float* data, int64_t count) { start_allreduce_sum(data, count)->wait(); }

  // Blocking host-side helpers for metrics and control (small sizes).
  virtual void allreduce_sum(double* data, int64_t count) = 0;
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  virtual void barrier() = 0;
};

// A communicator of one rank (no MPI): sums are the identity.
std::unique_ptr<Communicator> make_local_communicator();

}  // namespace hybrec::trainer
