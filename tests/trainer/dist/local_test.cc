// The one-rank communicator, and GradBuckets against a recording fake
// communicator (no MPI).
#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "hybrec/kernels/error.h"
#include "trainer/dist/communicator.h"
#include "trainer/dist/grad_buckets.h"

namespace hybrec::trainer {
namespace {

// Pretends to be `size` ranks holding the same data: a sum multiplies by
// size when waited on. Records every all-reduce started.
class FakeCommunicator : public Communicator {
 public:
  explicit FakeCommunicator(int size) : size_(size) {}
  using Communicator::allreduce_sum;
  int rank() const override { return 0; }
  int size() const override { return size_; }
  const char* backend() const override { return "fake"; }
  std::unique_ptr<Pending> start_allreduce_sum(float* data, int64_t count) override {
    started.emplace_back(data, count);
    return std::make_unique<FakePending>(data, count, size_);
  }
  void allreduce_sum(double*, int64_t) override {}
  void broadcast(void*, int64_t, int) override {}
  void barrier() override {}

  std::vector<std::pair<float*, int64_t>> started;

 private:
  struct FakePending : Pending {
    FakePending(float* d, int64_t c, int s) : data(d), count(c), size(s) {}
    void wait() override {
      for (int64_t i = 0; i < count; ++i) data[i] *= static_cast<float>(size);
      count = 0;
    }
    float* data;
    int64_t count;
    int size;
  };
  int size_;
};

TEST(LocalCommunicator, IsOneRankWhoseCollectivesAreTheIdentity) {
  auto comm = make_local_communicator();
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_STREQ(comm->backend(), "local");
  std::vector<float> f = {1.5f, -2.0f, 3e30f};
  comm->allreduce_sum(f.data(), 3);
  EXPECT_EQ(f, (std::vector<float>{1.5f, -2.0f, 3e30f}));
  auto pending = comm->start_allreduce_sum(f.data(), 0);
  pending->wait();
  std::vector<double> d = {0.25, 7};
  comm->allreduce_sum(d.data(), 2);
  EXPECT_EQ(d, (std::vector<double>{0.25, 7}));
  char bytes[3] = {'a', 'b', 'c'};
  comm->broadcast(bytes, 3, 0);
  EXPECT_EQ(bytes[2], 'c');
  EXPECT_THROW(comm->broadcast(bytes, 3, 1), Error);
  EXPECT_THROW(comm->allreduce_sum(f.data(), -1), Error);
  comm->barrier();
}

TEST(GradBuckets, StartsEachFixedBucketOnceItIsCompleteWhateverThePieces) {
  FakeCommunicator comm(2);
  const int64_t n = 1003;
  std::vector<float> grad(n, 1.0f);
  GradBuckets buckets(comm, grad.data(), n, 100 * sizeof(float));
  EXPECT_EQ(buckets.num_buckets(), 11);
  // Pieces that straddle bucket boundaries: [950,1003) completes nothing,
  // [850,950) completes [903,1003), [0,850) the rest.
  buckets.on_ready(950, 1003);
  EXPECT_EQ(buckets.started(), 0);
  buckets.on_ready(850, 950);
  EXPECT_EQ(buckets.started(), 1);
  buckets.on_ready(3, 850);
  EXPECT_EQ(buckets.started(), 10);
  buckets.on_ready(0, 3);
  EXPECT_EQ(buckets.started(), 11);
  buckets.finish(/*average=*/false);
  ASSERT_EQ(comm.started.size(), 11u);
  for (size_t k = 0; k < 10; ++k) {
    EXPECT_EQ(comm.started[k].first, grad.data() + (n - 100 * static_cast<int64_t>(k + 1)));
    EXPECT_EQ(comm.started[k].second, 100);
  }
  EXPECT_EQ(comm.started[10].first, grad.data());
  EXPECT_EQ(comm.started[10].second, 3);
  for (float g : grad) EXPECT_EQ(g, 2.0f);
}

TEST(GradBuckets, AveragesAndIsReadyForTheNextStep) {
  FakeCommunicator comm(4);
  std::vector<float> grad(10, 3.0f);
  GradBuckets buckets(comm, grad.data(), 10, 4 * sizeof(float));
  for (int step = 0; step < 2; ++step) {
    for (int64_t end = 10; end > 0; --end) buckets.on_ready(end - 1, end);
    buckets.finish(/*average=*/true);
    for (float g : grad) EXPECT_EQ(g, 3.0f);
  }
  EXPECT_EQ(comm.started.size(), 6u);  // 3 buckets per step
}

TEST(GradBuckets, FinishWithoutReportsReducesEverything) {
  FakeCommunicator comm(2);
  std::vector<float> grad(5, 1.0f);
  GradBuckets buckets(comm, grad.data(), 5);
  buckets.finish(false);
  EXPECT_EQ(comm.started.size(), 1u);
  for (float g : grad) EXPECT_EQ(g, 2.0f);
}

TEST(GradBuckets, RejectsRangesOutOfOrderAndIncompleteSteps) {
  FakeCommunicator comm(1);
  std::vector<float> grad(100);
  GradBuckets buckets(comm, grad.data(), 100, 40);
  EXPECT_THROW(buckets.on_ready(0, 50), Error);  // does not start at the top
  buckets.on_ready(60, 100);
  EXPECT_THROW(buckets.on_ready(70, 80), Error);  // overlaps
  EXPECT_THROW(buckets.on_ready(40, 50), Error);  // gap
  EXPECT_THROW(buckets.on_ready(60, 60), Error);  // empty
  EXPECT_THROW(buckets.finish(), Error);          // [0, 60) never reported
  buckets.on_ready(0, 60);
  buckets.finish();
  EXPECT_THROW(GradBuckets(comm, grad.data(), 100, 3), Error);
}

TEST(GradBuckets, WorksWithTheLocalCommunicatorAndEmptyGradients) {
  auto comm = make_local_communicator();
  std::vector<float> grad = {1, 2, 3};
  GradBuckets buckets(*comm, grad.data(), 3, 4);
  buckets.on_ready(1, 3);
  buckets.on_ready(0, 1);
  buckets.finish();
  EXPECT_EQ(grad, (std::vector<float>{1, 2, 3}));
  GradBuckets empty(*comm, nullptr, 0);
  empty.finish();
  EXPECT_EQ(empty.num_buckets(), 0);
}

}  // namespace
}  // namespace hybrec::trainer
