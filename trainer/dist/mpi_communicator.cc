#include "trainer/dist/mpi_communicator.h"

#include <algorithm>
#include <climits>
#include <deque>
#include <exception>
#include <vector>

#include "hybrec/kernels/error.h"
#include "trainer/dist/mpi_check.h"

namespace hybrec::trainer {

namespace {

// Largest element count of one MPI call (MPI counts are int).
constexpr int64_t kMaxCount = INT_MAX / 2 + 1;  // 2^30

// One collective-sized piece of a float all-reduce: reduce to rank 0, then
// broadcast from rank 0.
struct Stage {
  enum Phase { kReducing, kBroadcasting, kDone };
  float* data = nullptr;
  int count = 0;
  Phase phase = kReducing;
  MPI_Request request = MPI_REQUEST_NULL;
};

MPI_Comm duplicate(MPI_Comm comm) {
  MPI_Comm copy = MPI_COMM_NULL;
  HYBREC_MPI_CHECK(MPI_Comm_dup(comm, &copy));
  HYBREC_MPI_CHECK(MPI_Comm_set_errhandler(copy, MPI_ERRORS_RETURN));
  return copy;
}

class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm comm) {
    HYBREC_CHECK(comm != MPI_COMM_NULL, "make_mpi_communicator: MPI_COMM_NULL");
    reduce_comm_ = duplicate(comm);
    bcast_comm_ = duplicate(comm);
    control_comm_ = duplicate(comm);
    HYBREC_MPI_CHECK(MPI_Comm_rank(control_comm_, &rank_));
    HYBREC_MPI_CHECK(MPI_Comm_size(control_comm_, &size_));
  }

  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    // Unwinding from an error: the other ranks may never match what is in
    // flight, so do not wait (the job is about to be aborted).
    if (std::uncaught_exceptions() == 0) {
      try {
        while (!inflight_.empty()) wait_front();
      } catch (const std::exception&) {
      }
    }
    for (MPI_Comm* comm : {&reduce_comm_, &bcast_comm_, &control_comm_}) MPI_Comm_free(comm);
  }

  using Communicator::allreduce_sum;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "mpi"; }

  std::unique_ptr<Pending> start_allreduce_sum(float* data, int64_t count) override {
    HYBREC_CHECK(count >= 0 && (count == 0 || data != nullptr), "allreduce_sum: count ", count,
                 " with data ", static_cast<void*>(data));
    auto pending = std::make_unique<MpiPending>(this);
    if (size_ > 1) {
      for (int64_t offset = 0; offset < count; offset += kMaxCount) {
        auto stage = std::make_shared<Stage>();
        stage->data = data + offset;
        stage->count = static_cast<int>(std::min(kMaxCount, count - offset));
        const void* send = rank_ == 0 ? MPI_IN_PLACE : stage->data;
        HYBREC_MPI_CHECK(MPI_Ireduce(send, stage->data, stage->count, MPI_FLOAT, MPI_SUM, 0,
                                     reduce_comm_, &stage->request));
        inflight_.push_back(stage);
        pending->stages.push_back(std::move(stage));
      }
    }
    progress();
    return pending;
  }

  void allreduce_sum(double* data, int64_t count) override {
    HYBREC_CHECK(count >= 0 && (count == 0 || data != nullptr), "allreduce_sum: count ", count,
                 " with data ", static_cast<void*>(data));
    if (size_ == 1) return;
    for (int64_t offset = 0; offset < count; offset += kMaxCount) {
      const int n = static_cast<int>(std::min(kMaxCount, count - offset));
      double* piece = data + offset;
      HYBREC_MPI_CHECK(MPI_Reduce(rank_ == 0 ? MPI_IN_PLACE : piece, piece, n, MPI_DOUBLE, MPI_SUM,
                                  0, control_comm_));
      HYBREC_MPI_CHECK(MPI_Bcast(piece, n, MPI_DOUBLE, 0, control_comm_));
    }
  }

  void broadcast(void* data, int64_t bytes, int root) override {
    HYBREC_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " out of range [0, ", size_,
                 ")");
    HYBREC_CHECK(bytes >= 0 && (bytes == 0 || data != nullptr), "broadcast: ", bytes, " bytes at ",
                 data);
    for (int64_t offset = 0; offset < bytes; offset += kMaxCount) {
      const int n = static_cast<int>(std::min(kMaxCount, bytes - offset));
      HYBREC_MPI_CHECK(
          MPI_Bcast(static_cast<char*>(data) + offset, n, MPI_BYTE, root, control_comm_));
    }
  }

  void barrier() override { HYBREC_MPI_CHECK(MPI_Barrier(control_comm_)); }

 private:
  struct MpiPending : Pending {
    explicit MpiPending(MpiCommunicator* owner) : owner(owner) {}
    // Without wait() the collectives stay in flight and the communicator
    // finishes them later; the buffer must outlive them.
    void wait() override {
      for (const auto& stage : stages) {
        while (stage->phase != Stage::kDone) owner->wait_front();
      }
      stages.clear();
    }
    MpiCommunicator* owner;
    std::vector<std::shared_ptr<Stage>> stages;
  };

  // The collective that `stage` was waiting for has completed.
  void advance(Stage& stage) {
    if (stage.phase == Stage::kReducing) {
      HYBREC_MPI_CHECK(
          MPI_Ibcast(stage.data, stage.count, MPI_FLOAT, 0, bcast_comm_, &stage.request));
      stage.phase = Stage::kBroadcasting;
    } else {
      stage.phase = Stage::kDone;
    }
  }

  // Without blocking: advances every stage whose collective has completed.
  // A broadcast starts only when every earlier stage's broadcast has
  // started, so all ranks issue broadcasts in the same order.
  void progress() {
    for (const auto& stage : inflight_) {
      if (stage->phase == Stage::kDone) continue;
      int done = 0;
      HYBREC_MPI_CHECK(MPI_Test(&stage->request, &done, MPI_STATUS_IGNORE));
      if (done) {
        advance(*stage);
      } else if (stage->phase == Stage::kReducing) {
        break;
      }
    }
    while (!inflight_.empty() && inflight_.front()->phase == Stage::kDone) inflight_.pop_front();
  }

  // Blocks until the oldest in-flight stage moves one phase on.
  void wait_front() {
    progress();
    if (inflight_.empty()) return;
    Stage& front = *inflight_.front();
    HYBREC_MPI_CHECK(MPI_Wait(&front.request, MPI_STATUS_IGNORE));
    advance(front);
    progress();
  }

  MPI_Comm reduce_comm_ = MPI_COMM_NULL;
  MPI_Comm bcast_comm_ = MPI_COMM_NULL;
  MPI_Comm control_comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  std::deque<std::shared_ptr<Stage>> inflight_;  // in start order
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm comm) {
  return std::make_unique<MpiCommunicator>(comm);
}

}  // namespace hybrec::trainer
