// GPU embedding kernels at the trainer's shapes: a 1M-row table, dim 64 and
// 128, 4096 bags of 1, 20 or 50 uniform random rows, sum pooling, index
// validation off (the trainer validates keys once, upstream). Each iteration
// uses the next of kIndexSets index sets, so rows are not served from the
// previous iteration's L2 (50-60 MB on H100/H200, more than one batch's rows).
// bytes_per_second counts bytes read plus written; compare with BM_GpuMemcpy.
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "gpu_bench.h"
#include "hybrec/kernels/embedding.h"

namespace hybrec::bench {
namespace {

namespace hk = hybrec::kernels;

constexpr int64_t kRows = 1'000'000;
constexpr int64_t kBags = 4096;
constexpr int kIndexSets = 8;

struct DeviceIndexSets {
  DeviceIndexSets(const hk::Device& gpu, int64_t len) : offsets(gpu, kBags + 1) {
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<int64_t> dist(0, kRows - 1);
    std::vector<int64_t> host_offsets(kBags + 1);
    for (int64_t b = 0; b <= kBags; ++b) host_offsets[b] = b * len;
    offsets.upload(host_offsets);
    double unique_sum = 0.0;
    for (int s = 0; s < kIndexSets; ++s) {
      std::vector<int64_t> host(static_cast<std::size_t>(kBags * len));
      for (auto& i : host) i = dist(rng);
      indices.emplace_back(gpu, host);
      std::sort(host.begin(), host.end());
      unique_sum += static_cast<double>(std::unique(host.begin(), host.end()) - host.begin());
    }
    mean_unique = unique_sum / kIndexSets;
    num_indices = kBags * len;
  }

  hk::EmbeddingBags bags(std::size_t iteration) const {
    hk::EmbeddingBags v;
    v.indices = indices[iteration % indices.size()].data();
    v.offsets = offsets.data();
    v.count = kBags;
    v.num_indices = num_indices;
    return v;
  }

  std::vector<hk::Buffer<int64_t>> indices;
  hk::Buffer<int64_t> offsets;
  double mean_unique = 0.0;
  int64_t num_indices = 0;
};

hk::Device bench_device() {
  hk::Device gpu = hk::Device::cuda();
  gpu.check_bounds = false;
  return gpu;
}

void BM_GpuEmbeddingBagForward(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int64_t dim = state.range(0), len = state.range(1);
  const auto gpu = bench_device();
  hk::Buffer<float> table(gpu, kRows * dim), out(gpu, kBags * dim);
  table.zero();
  const DeviceIndexSets sets(gpu, len);
  std::size_t it = 0;
  GpuTimer timer;
  timer.run(state, nullptr, [&] {
    hk::embedding_bag_forward(gpu, table.data(), kRows, dim, sets.bags(it++), out.data());
  });
  // Rows read plus the pooled output written.
  const double bytes = 4.0 * static_cast<double>(kBags * len * dim + kBags * dim);
  state.SetBytesProcessed(static_cast<int64_t>(bytes * static_cast<double>(state.iterations())));
}

void BM_GpuEmbeddingBackwardAdagrad(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int64_t dim = state.range(0), len = state.range(1);
  const auto gpu = bench_device();
  hk::Buffer<float> table(gpu, kRows * dim), row_state(gpu, kRows);
  table.zero();
  row_state.zero();
  hk::Buffer<float> grad_out(gpu, std::vector<float>(static_cast<std::size_t>(kBags * dim), 1e-3f));
  const DeviceIndexSets sets(gpu, len);
  hk::RowwiseAdagradParams params;
  params.learning_rate = 1e-3f;
  std::size_t it = 0;
  GpuTimer timer;
  timer.run(state, nullptr, [&] {
    hk::embedding_bag_backward_adagrad(gpu, sets.bags(it++), grad_out.data(), table.data(),
                                       row_state.data(), kRows, dim, params);
  });
  // grad_out read; every unique row and its state read and written.
  const double bytes = 4.0 * static_cast<double>(kBags * dim) +
                       sets.mean_unique * 2.0 * 4.0 * static_cast<double>(dim + 1);
  state.SetBytesProcessed(static_cast<int64_t>(bytes * static_cast<double>(state.iterations())));
}

void realistic_shapes(benchmark::internal::Benchmark* b) {
  for (int64_t dim : {64, 128}) {
    for (int64_t len : {1, 20, 50}) b->Args({dim, len});
  }
  b->UseManualTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_GpuEmbeddingBagForward)->Apply(realistic_shapes);
BENCHMARK(BM_GpuEmbeddingBackwardAdagrad)->Apply(realistic_shapes);

}  // namespace
}  // namespace hybrec::bench
