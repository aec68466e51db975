// The one-rank communicator: every collective is the identity.
#include <memory>

#include "hybrec/kernels/error.h"
#include "trainer/dist/communicator.h"

namespace hybrec::trainer {

namespace {

class DonePending : public Communicator::Pending {
 public:
  void wait() override {}
};

class LocalCommunicator : public Communicator {
 public:
  using Communicator::allreduce_sum;

  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* backend() const override { return "local"; }

  std::unique_ptr<Pending> start_allreduce_sum(float* data, int64_t count) override {
    HYBREC_CHECK(count >= 0 && (count == 0 || data != nullptr), "allreduce_sum: count ", count,
                 " with data ", static_cast<void*>(data));
    return std::make_unique<DonePending>();
  }
  void allreduce_sum(double* data, int64_t count) override {
    HYBREC_CHECK(count >= 0 && (count == 0 || data != nullptr), "allreduce_sum: count ", count,
                 " with data ", static_cast<void*>(data));
  }
  void broadcast(void* data, int64_t bytes, int root) override {
    HYBREC_CHECK(root == 0, "broadcast: root ", root, " out of range [0, 1)");
    HYBREC_CHECK(bytes >= 0 && (bytes == 0 || data != nullptr), "broadcast: ", bytes, " bytes at ",
                 data);
  }
  void barrier() override {}
};

}  // namespace

std::unique_ptr<Communicator> make_local_communicator() {
  return std::make_unique<LocalCommunicator>();
}

}  // namespace hybrec::trainer
