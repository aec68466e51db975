#include "trainer/dist/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <thread>

#include "hybrec/kernels/error.h"
#include "trainer/dist/mpi_check.h"
#include "trainer/dist/mpi_communicator.h"

#define HYBREC_DIST_CUDA_CHECK(call)                                      \
  do {                                                                    \
    const cudaError_t hybrec_status_ = (call);                            \
    if (hybrec_status_ != cudaSuccess) {                                  \
      HYBREC_THROW("CUDA error ", cudaGetErrorName(hybrec_status_), " (", \
                   cudaGetErrorString(hybrec_status_), ") in ", #call);   \
    }                                                                     \
  } while (0)

#define HYBREC_NCCL_CHECK(call)                                           \
  do {                                                                    \
    const ncclResult_t hybrec_status_ = (call);                           \
    if (hybrec_status_ != ncclSuccess) {                                  \
      HYBREC_THROW("NCCL error ", static_cast<int>(hybrec_status_), " (", \
                   ncclGetErrorString(hybrec_status_), ") in ", #call);   \
    }                                                                     \
  } while (0)

namespace hybrec::trainer {

namespace {

// How long an all-reduce may wait before the rank gives up on its peers
// (HYBREC_NCCL_TIMEOUT_S, default 600 s).
double nccl_timeout_s() {
  const char* text = std::getenv("HYBREC_NCCL_TIMEOUT_S");
  const double value = text != nullptr ? std::atof(text) : 0.0;
  return value > 0 ? value : 600.0;
}

// wait() polls the collective's event instead of blocking in
// cudaEventSynchronize: between polls it asks NCCL for an asynchronous error
// (a peer that died or a broken connection), and past the timeout it gives
// up. Either way it aborts the NCCL communicator, so the rank ends with a
// message instead of hanging in the collective (torchrec#850).
class NcclPending : public Communicator::Pending {
 public:
  // nccl points at the communicator's handle, which an abort here sets to
  // null so that the communicator neither aborts nor destroys it again.
  NcclPending(cudaEvent_t done, cudaStream_t stream, ncclComm_t* nccl, int rank, int size)
      : done_(done), stream_(stream), nccl_(nccl), rank_(rank), size_(size) {}
  ~NcclPending() override {
    if (done_ != nullptr) cudaEventDestroy(done_);
  }
  void wait() override {
    if (done_ == nullptr) return;
    const double limit = nccl_timeout_s();
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      const cudaError_t state = cudaEventQuery(done_);
      if (state == cudaSuccess) break;
      if (state != cudaErrorNotReady) HYBREC_DIST_CUDA_CHECK(state);
      ncclResult_t async = ncclSuccess;
      HYBREC_NCCL_CHECK(ncclCommGetAsyncError(*nccl_, &async));
      if (async != ncclSuccess && async != ncclInProgress) {
        abort_communicator();
        HYBREC_THROW("NCCL all-reduce failed on trainer rank ", rank_, " of ", size_, ": ",
                     ncclGetErrorString(async),
                     " (a peer rank died or its connection broke; its own log names it)");
      }
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > limit) {
        abort_communicator();
        HYBREC_THROW("NCCL all-reduce on trainer rank ", rank_, " of ", size_, " waited ", waited,
                     " s for its peers (HYBREC_NCCL_TIMEOUT_S = ", limit,
                     "): a peer rank is dead or stuck");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    HYBREC_DIST_CUDA_CHECK(cudaStreamWaitEvent(stream_, done_, 0));
  }

 private:
  void abort_communicator() {
    ncclCommAbort(*nccl_);
    *nccl_ = nullptr;
  }

  cudaEvent_t done_;
  cudaStream_t stream_;
  ncclComm_t* nccl_;
  int rank_, size_;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(MPI_Comm comm, int device, void* stream)
      : host_(make_mpi_communicator(comm)),
        device_(device),
        stream_(static_cast<cudaStream_t>(stream)) {
    HYBREC_DIST_CUDA_CHECK(cudaSetDevice(device_));
    ncclUniqueId id{};
    if (host_->rank() == 0) HYBREC_NCCL_CHECK(ncclGetUniqueId(&id));
    host_->broadcast(&id, sizeof(id), 0);
    HYBREC_NCCL_CHECK(ncclCommInitRank(&nccl_, host_->size(), id, host_->rank()));
    HYBREC_DIST_CUDA_CHECK(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking));
    HYBREC_DIST_CUDA_CHECK(cudaEventCreateWithFlags(&produced_, cudaEventDisableTiming));
  }

  ~NcclCommunicator() override {
    cudaSetDevice(device_);
    if (nccl_ == nullptr) {
      // Aborted by a failed wait: nothing of NCCL's is left to release.
    } else if (std::uncaught_exceptions() == 0 && comm_stream_ != nullptr) {
      cudaStreamSynchronize(comm_stream_);
      ncclCommDestroy(nccl_);
    } else {
      ncclCommAbort(nccl_);
    }
    if (produced_ != nullptr) cudaEventDestroy(produced_);
    if (comm_stream_ != nullptr) cudaStreamDestroy(comm_stream_);
  }

  using Communicator::allreduce_sum;

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  const char* backend() const override { return "nccl"; }

  std::unique_ptr<Pending> start_allreduce_sum(float* data, int64_t count) override {
    HYBREC_CHECK(count >= 0 && (count == 0 || data != nullptr), "allreduce_sum: count ", count,
                 " with data ", static_cast<void*>(data));
    HYBREC_CHECK(nccl_ != nullptr, "allreduce_sum: the NCCL communicator of trainer rank ", rank(),
                 " was aborted after an earlier failure");
    if (count == 0) return std::make_unique<NcclPending>(nullptr, stream_, &nccl_, rank(), size());
    HYBREC_DIST_CUDA_CHECK(cudaSetDevice(device_));
    HYBREC_DIST_CUDA_CHECK(cudaEventRecord(produced_, stream_));
    HYBREC_DIST_CUDA_CHECK(cudaStreamWaitEvent(comm_stream_, produced_, 0));
    HYBREC_NCCL_CHECK(ncclAllReduce(data, data, static_cast<size_t>(count), ncclFloat, ncclSum,
                                    nccl_, comm_stream_));
    cudaEvent_t done = nullptr;
    HYBREC_DIST_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    auto pending = std::make_unique<NcclPending>(done, stream_, &nccl_, rank(), size());
    HYBREC_DIST_CUDA_CHECK(cudaEventRecord(done, comm_stream_));
    return pending;
  }

  void allreduce_sum(double* data, int64_t count) override { host_->allreduce_sum(data, count); }
  void broadcast(void* data, int64_t bytes, int root) override {
    host_->broadcast(data, bytes, root);
  }
  void barrier() override { host_->barrier(); }

 private:
  std::unique_ptr<Communicator> host_;
  int device_;
  cudaStream_t stream_;
  cudaStream_t comm_stream_ = nullptr;
  cudaEvent_t produced_ = nullptr;
  ncclComm_t nccl_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm comm, int device, void* stream) {
  return std::make_unique<NcclCommunicator>(comm, device, stream);
}

}  // namespace hybrec::trainer
