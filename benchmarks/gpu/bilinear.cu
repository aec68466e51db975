// GPU benchmarks of the bilinear ops, timed with CUDA events. All three are
// GEMM-bound, so the counter is FLOP/s (compare with BM_GpuSgemm, full fp32).
// BM_GpuAllItemsTopK is the evaluation step: S = U W V^T and the top k per
// user (torch equivalent: topk((U @ W) @ V.T, k)).
#include <cstdint>
#include <vector>

#include "bench_inputs.h"
#include "gpu_bench.h"
#include "hybrec/kernels/bilinear.h"

namespace hybrec::bench {
namespace {

namespace hk = hybrec::kernels;

void BM_GpuBilinearForward(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int64_t batch = state.range(0), dim = state.range(1);
  const auto gpu = hk::Device::cuda();
  hk::Buffer<float> u(gpu, random_normal(batch * dim, 1)), v(gpu, random_normal(batch * dim, 2)),
      w(gpu, random_normal(dim * dim, 3)), z(gpu, batch);
  const hk::BilinearParams p{batch, dim, u.data(), v.data(), w.data()};
  GpuTimer timer;
  timer.run(state, nullptr, [&] { hk::bilinear_forward(gpu, p, z.data()); });
  state.counters["FLOPS"] = benchmark::Counter(2.0 * batch * dim * dim + 2.0 * batch * dim,
                                               benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_GpuBilinearForward)
    ->Args({4096, 64})
    ->Args({4096, 128})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

void BM_GpuBilinearBackward(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int64_t batch = state.range(0), dim = state.range(1);
  const auto gpu = hk::Device::cuda();
  hk::Buffer<float> u(gpu, random_normal(batch * dim, 1)), v(gpu, random_normal(batch * dim, 2)),
      w(gpu, random_normal(dim * dim, 3)), dz(gpu, random_normal(batch, 4));
  hk::Buffer<float> du(gpu, batch * dim), dv(gpu, batch * dim), dw(gpu, dim * dim);
  dw.zero();
  const hk::BilinearParams p{batch, dim, u.data(), v.data(), w.data()};
  GpuTimer timer;
  timer.run(state, nullptr,
            [&] { hk::bilinear_backward(gpu, p, dz.data(), du.data(), dv.data(), dw.data()); });
  // Three GEMMs (dw, du, dv) plus two row scalings.
  state.counters["FLOPS"] = benchmark::Counter(6.0 * batch * dim * dim + 2.0 * batch * dim,
                                               benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_GpuBilinearBackward)
    ->Args({4096, 64})
    ->Args({4096, 128})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// range(4) = items excluded per user (0: no exclusion lists).
void run_all_items_topk(benchmark::State& state, int64_t excluded_per_user) {
  if (skip_without_gpu(state)) return;
  const int64_t users = state.range(0), items = state.range(1), dim = state.range(2),
                k = state.range(3);
  const auto gpu = hk::Device::cuda();
  hk::Buffer<float> u(gpu, random_normal(users * dim, 1)), v(gpu, random_normal(items * dim, 2)),
      w(gpu, random_normal(dim * dim, 3));
  const ExclusionLists lists = random_exclusions(users, items, excluded_per_user, 5);
  hk::Buffer<int64_t> offsets(gpu, lists.offsets);
  hk::Buffer<int32_t> excluded(gpu, lists.items);
  hk::Buffer<int32_t> top_items(gpu, users * k);
  hk::Buffer<float> top_scores(gpu, users * k);
  hk::AllItemsTopKParams<int32_t> p;
  p.num_users = users;
  p.num_items = items;
  p.dim = dim;
  p.k = k;
  p.users = u.data();
  p.items = v.data();
  p.w = w.data();
  p.exclude_offsets = excluded_per_user > 0 ? offsets.data() : nullptr;
  p.exclude_items = excluded.data();
  p.top_items = top_items.data();
  p.top_scores = top_scores.data();
  GpuTimer timer;
  timer.run(state, nullptr, [&] { hk::all_items_topk(gpu, p); });
  state.counters["FLOPS"] = benchmark::Counter(2.0 * users * items * dim + 2.0 * users * dim * dim,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

void BM_GpuAllItemsTopK(benchmark::State& state) { run_all_items_topk(state, 0); }
BENCHMARK(BM_GpuAllItemsTopK)
    ->ArgsProduct({{1024}, {100000}, {64, 128}, {10, 100, 1024}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// The same with 50 excluded items per user: adds the offsets copy (a host
// sync), the bounds check and the device sort of the lists.
void BM_GpuAllItemsTopKExcluding50(benchmark::State& state) { run_all_items_topk(state, 50); }
BENCHMARK(BM_GpuAllItemsTopKExcluding50)
    ->Args({1024, 100000, 128, 100})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hybrec::bench
