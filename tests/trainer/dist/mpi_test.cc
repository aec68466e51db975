// The MPI communicator over MPI_COMM_WORLD, run with 1 to 4 ranks: sums are
// correct and bit-identical on every rank for values whose summation order
// changes the result, many all-reduces may be in flight at once, GradBuckets
// averages correctly whatever pieces each rank reports, and the blocking
// helpers work.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "hybrec/kernels/error.h"
#include "trainer/dist/grad_buckets.h"
#include "trainer/dist/mpi_communicator.h"

namespace hybrec::trainer {
namespace {

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}
int world_size() {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Element i of rank r: magnitudes from 1e-20 to 1e20 and both signs, so the
// float sum of the ranks' values depends on the order of summation.
float wild_value(int r, int64_t i) {
  const uint64_t bits = splitmix64(static_cast<uint64_t>(i) * 131u + static_cast<uint64_t>(r));
  const double mantissa = 1.0 + static_cast<double>(bits >> 40) / double(1 << 24);
  const int exponent = static_cast<int>((bits >> 8) % 41) - 20;
  return static_cast<float>(((bits & 1) ? 1.0 : -1.0) * mantissa * std::pow(10.0, exponent));
}

uint64_t fnv1a(const void* data, size_t bytes) {
  uint64_t hash = 1469598103934665603ull;
  for (size_t i = 0; i < bytes; ++i) {
    hash ^= static_cast<const unsigned char*>(data)[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

// Whether every rank holds the same bytes.
bool same_on_every_rank(const void* data, size_t bytes) {
  const uint64_t mine = fnv1a(data, bytes);
  std::vector<uint64_t> all(static_cast<size_t>(world_size()));
  MPI_Allgather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD);
  for (uint64_t h : all) {
    if (h != mine) return false;
  }
  return true;
}

TEST(MpiCommunicator, KnowsItsRankAndSize) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD);
  EXPECT_EQ(comm->rank(), world_rank());
  EXPECT_EQ(comm->size(), world_size());
  EXPECT_STREQ(comm->backend(), "mpi");
}

TEST(MpiCommunicator, SumsAreCorrectAndBitIdenticalOnEveryRank) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD);
  const int size = comm->size();
  if (size > 16) GTEST_SKIP() << "the reference keeps at most 16 ranks' values";
  int64_t order_sensitive = 0;
  for (int64_t count : {0, 1, 7, 1000, 65537, 300001}) {
    std::vector<float> data(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) data[static_cast<size_t>(i)] = wild_value(comm->rank(), i);
    comm->allreduce_sum(data.data(), count);
    EXPECT_TRUE(same_on_every_rank(data.data(), data.size() * sizeof(float))) << "count " << count;
    int64_t bad = 0;
    for (int64_t i = 0; i < count; ++i) {
      float values[16];
      double exact = 0, magnitude = 0;
      float forward = 0, backward = 0;
      for (int r = 0; r < size && r < 16; ++r) values[r] = wild_value(r, i);
      for (int r = 0; r < size && r < 16; ++r) {
        exact += values[r];
        magnitude += std::fabs(values[r]);
        forward += values[r];
        backward += values[size - 1 - r];
      }
      order_sensitive += forward != backward;
      const double tolerance = size * 6e-8 * magnitude;
      if (std::fabs(data[static_cast<size_t>(i)] - exact) > tolerance && bad++ < 5) {
        ADD_FAILURE() << "count " << count << " element " << i << ": "
                      << data[static_cast<size_t>(i)] << " vs exact " << exact;
      }
    }
  }
  // The data really does depend on the summation order (ranks 3 and up; two
  // floats add the same either way).
  if (size >= 3) {
    EXPECT_GT(order_sensitive, 1000);
  }
}

TEST(MpiCommunicator, ManyAllReducesInFlightFinishInAnyWaitOrder) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD);
  const int size = comm->size(), rank = comm->rank();
  const int kBuckets = 64;
  std::vector<std::vector<float>> buffers(kBuckets);
  std::vector<std::unique_ptr<Communicator::Pending>> pending;
  for (int b = 0; b < kBuckets; ++b) {
    const int64_t count = b % 9 == 0 ? 0 : (b * 7919) % 40000 + 1;
    buffers[b].resize(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i)
      buffers[b][static_cast<size_t>(i)] = float(rank + 1 + (i + b) % 5);
    pending.push_back(comm->start_allreduce_sum(buffers[b].data(), count));
  }
  // Wait the newest first, then the rest from the oldest.
  pending.back()->wait();
  for (auto& p : pending) p->wait();
  for (int b = 0; b < kBuckets; ++b) {
    for (size_t i = 0; i < buffers[b].size(); ++i) {
      const float expected = float(size * (size + 1) / 2 + size * static_cast<int>((i + b) % 5));
      if (buffers[b][i] != expected) {
        ADD_FAILURE() << "bucket " << b << " element " << i << ": " << buffers[b][i] << " vs "
                      << expected;
        break;
      }
    }
  }
}

TEST(MpiCommunicator, BroadcastBarrierAndDoubleSums) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD);
  const int size = comm->size(), rank = comm->rank();
  for (int root = 0; root < size; ++root) {
    std::vector<char> bytes(1001, static_cast<char>(rank));
    comm->broadcast(bytes.data(), 1001, root);
    int64_t wrong = 0;
    for (char c : bytes) wrong += c != static_cast<char>(root);
    EXPECT_EQ(wrong, 0) << "root " << root;
  }
  EXPECT_THROW(comm->broadcast(nullptr, 0, size), Error);
  comm->barrier();
  std::vector<double> d = {1.0 * rank, 1e300 / (rank + 1), -0.1 * rank};
  comm->allreduce_sum(d.data(), 3);
  EXPECT_EQ(d[0], size * (size - 1) / 2.0);
  EXPECT_TRUE(same_on_every_rank(d.data(), d.size() * sizeof(double)));
}

TEST(GradBuckets, AveragesOverRanksWhateverPiecesEachRankReports) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD);
  const int size = comm->size(), rank = comm->rank();
  const int64_t n = 10007;
  std::vector<float> grad(n);
  GradBuckets buckets(*comm, grad.data(), n, 1000 * sizeof(float));
  std::mt19937 gen(static_cast<unsigned>(rank) * 31u + 5u);  // each rank cuts differently
  for (int step = 0; step < 3; ++step) {
    for (int64_t i = 0; i < n; ++i) grad[static_cast<size_t>(i)] = float(rank + step + i % 3);
    int64_t end = n;
    while (end > 0) {
      const int64_t begin = std::max<int64_t>(0, end - 1 - static_cast<int64_t>(gen() % 2500));
      buckets.on_ready(begin, end);
      end = begin;
      if (end <= n - 1000) {
        EXPECT_GE(buckets.started(), 1);  // overlap: started before the end
      }
    }
    buckets.finish(/*average=*/true);
    for (int64_t i = 0; i < n; ++i) {
      float sum = 0;
      for (int r = 0; r < size; ++r) sum += float(r + step + i % 3);
      const float expected = size > 1 ? sum * (1.0f / static_cast<float>(size)) : sum;
      if (grad[static_cast<size_t>(i)] != expected) {
        ADD_FAILURE() << "step " << step << " element " << i << ": " << grad[static_cast<size_t>(i)]
                      << " vs " << expected;
        break;
      }
    }
    EXPECT_TRUE(same_on_every_rank(grad.data(), grad.size() * sizeof(float)));
  }
}

}  // namespace
}  // namespace hybrec::trainer
