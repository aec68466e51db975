#include "trainer/dist/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <exception>

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

class NcclPending : public Communicator::Pending {
 public:
  NcclPending(cudaEvent_t done, cudaStream_t stream) : done_(done), stream_(stream) {}
  ~NcclPending() override {
    if (done_ != nullptr) cudaEventDestroy(done_);
  }
  void wait() override {
    if (done_ == nullptr) return;
    HYBREC_DIST_CUDA_CHECK(cudaEventSynchronize(done_));
    HYBREC_DIST_CUDA_CHECK(cudaStreamWaitEvent(stream_, done_, 0));
  }

 private:
  cudaEvent_t done_;
  cudaStream_t stream_;
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
    if (std::uncaught_exceptions() == 0 && comm_stream_ != nullptr) {
      cudaStreamSynchronize(comm_stream_);
      ncclCommDestroy(nccl_);
    } else if (nccl_ != nullptr) {
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
    if (count == 0) return std::make_unique<NcclPending>(nullptr, stream_);
    HYBREC_DIST_CUDA_CHECK(cudaSetDevice(device_));
    HYBREC_DIST_CUDA_CHECK(cudaEventRecord(produced_, stream_));
    HYBREC_DIST_CUDA_CHECK(cudaStreamWaitEvent(comm_stream_, produced_, 0));
    HYBREC_NCCL_CHECK(ncclAllReduce(data, data, static_cast<size_t>(count), ncclFloat, ncclSum,
                                    nccl_, comm_stream_));
    cudaEvent_t done = nullptr;
    HYBREC_DIST_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    auto pending = std::make_unique<NcclPending>(done, stream_);
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
