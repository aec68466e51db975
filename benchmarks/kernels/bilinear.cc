// CPU benchmarks of the bilinear ops, each next to the BLAS sgemm limit at
// the same size (limits.h). The bilinear score and the top-k are GEMM-bound,
// so the counter is FLOP/s; the fused score is elementwise and counts bytes.
// Everything here is multi-threaded, so times and rates are wall-clock
// (UseRealTime), the limits' captures included.
//
// All-items top-k is compared with sgemm_bench(users, items, dim), which
// writes the whole users x items score matrix that the top-k never builds:
// the ratio of the two times is the cost of selection and exclusions minus
// what tiling saves on memory traffic.
#include "hybrec/kernels/bilinear.h"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "bench_inputs.h"
#include "limits.h"

namespace hk = hybrec::kernels;
using hybrec::bench::memcpy_bench;
using hybrec::bench::sgemm_bench;
using hybrec::bench::random_normal;
using hybrec::bench::random_exclusions;
using hybrec::bench::ExclusionLists;

namespace {

void BM_BilinearForward(benchmark::State& state) {
  const int64_t batch = state.range(0), dim = state.range(1);
  const auto u = random_normal(batch * dim, 1), v = random_normal(batch * dim, 2),
             w = random_normal(dim * dim, 3);
  std::vector<float> z(batch);
  const hk::BilinearParams p{batch, dim, u.data(), v.data(), w.data()};
  for (auto _ : state) {
    hk::bilinear_forward(hk::Device::cpu(), p, z.data());
    benchmark::DoNotOptimize(z.data());
  }
  state.counters["FLOPS"] = benchmark::Counter(2.0 * batch * dim * dim + 2.0 * batch * dim,
                                               benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_BilinearForward)
    ->Args({4096, 64})
    ->Args({4096, 128})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BilinearForward)->Name("BM_BilinearForward/Small")->Args({64, 16});

void BM_BilinearBackward(benchmark::State& state) {
  const int64_t batch = state.range(0), dim = state.range(1);
  const auto u = random_normal(batch * dim, 1), v = random_normal(batch * dim, 2),
             w = random_normal(dim * dim, 3), dz = random_normal(batch, 4);
  std::vector<float> du(batch * dim), dv(batch * dim), dw(dim * dim, 0.0f);
  const hk::BilinearParams p{batch, dim, u.data(), v.data(), w.data()};
  for (auto _ : state) {
    hk::bilinear_backward(hk::Device::cpu(), p, dz.data(), du.data(), dv.data(), dw.data());
    benchmark::DoNotOptimize(dw.data());
  }
  // Three GEMMs (dw, du, dv) plus two row scalings.
  state.counters["FLOPS"] = benchmark::Counter(6.0 * batch * dim * dim + 2.0 * batch * dim,
                                               benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_BilinearBackward)
    ->Args({4096, 64})
    ->Args({4096, 128})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BilinearBackward)->Name("BM_BilinearBackward/Small")->Args({64, 16});

// The GEMM each pass is made of: [batch, dim] x [dim, dim].
BENCHMARK_CAPTURE(sgemm_bench, Bilinear_4096x64x64, 4096, 64, 64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(sgemm_bench, Bilinear_4096x128x128, 4096, 128, 128)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_FusedScoreBackward(benchmark::State& state) {
  const int64_t batch = state.range(0);
  const auto z = random_normal(batch, 1), g = random_normal(batch, 2),
             dout = random_normal(batch, 3);
  std::vector<float> dz(batch), dg(batch);
  const float lambda = 0.5f;
  float dlambda = 0.0f;
  for (auto _ : state) {
    hk::fused_score_backward(hk::Device::cpu(), {batch, z.data(), g.data(), &lambda}, dout.data(),
                             dz.data(), dg.data(), &dlambda);
    benchmark::DoNotOptimize(dz.data());
  }
  // Reads z, g, dout; writes dz, dg.
  state.SetBytesProcessed(state.iterations() * 5 * batch * static_cast<int64_t>(sizeof(float)));
}
BENCHMARK(BM_FusedScoreBackward)->Arg(4096)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FusedScoreBackward)->Name("BM_FusedScoreBackward/Small")->Arg(64);
BENCHMARK_CAPTURE(memcpy_bench, FusedScore_40KiB, std::size_t{5} * 4096 * 4 / 2)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_AllItemsTopK(benchmark::State& state) {
  const int64_t users = state.range(0), items = state.range(1), dim = state.range(2),
                k = state.range(3);
  const auto u = random_normal(users * dim, 1), v = random_normal(items * dim, 2),
             w = random_normal(dim * dim, 3);
  // Each user excludes 50 of its own items, as an evaluation excludes the
  // items seen in training.
  const ExclusionLists lists = random_exclusions(users, items, 50, 5);
  std::vector<int32_t> top_items(users * k);
  std::vector<float> top_scores(users * k);
  hk::AllItemsTopKParams<int32_t> p;
  p.num_users = users;
  p.num_items = items;
  p.dim = dim;
  p.k = k;
  p.users = u.data();
  p.items = v.data();
  p.w = w.data();
  p.exclude_offsets = lists.offsets.data();
  p.exclude_items = lists.items.data();
  p.top_items = top_items.data();
  p.top_scores = top_scores.data();
  for (auto _ : state) {
    hk::all_items_topk(hk::Device::cpu(), p);
    benchmark::DoNotOptimize(top_items.data());
  }
  state.counters["FLOPS"] = benchmark::Counter(2.0 * users * items * dim + 2.0 * users * dim * dim,
                                               benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_AllItemsTopK)
    ->Args({1024, 100000, 64, 10})
    ->Args({1024, 100000, 64, 100})
    ->Args({1024, 100000, 128, 10})
    ->Args({1024, 100000, 128, 100})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AllItemsTopK)->Name("BM_AllItemsTopK/Small")->Args({16, 1000, 16, 10});

BENCHMARK_CAPTURE(sgemm_bench, AllItems_1024x100000x64, 1024, 100000, 64)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(sgemm_bench, AllItems_1024x100000x128, 1024, 100000, 128)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
