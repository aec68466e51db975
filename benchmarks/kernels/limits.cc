#include "limits.h"

#include <cblas.h>
#include <omp.h>

#include <cstring>
#include <vector>

#include "hybrec/kernels/device.h"

namespace hybrec::bench {

void memcpy_bench(benchmark::State& state, std::size_t bytes) {
  const auto cpu = kernels::Device::cpu();
  kernels::Buffer<char> src(cpu, bytes), dst(cpu, bytes);
  // Touch every page first so page faults are not timed.
  std::memset(src.data(), 1, bytes);
  std::memset(dst.data(), 0, bytes);
  for (auto _ : state) {
#pragma omp parallel
    {
      const std::size_t threads = static_cast<std::size_t>(omp_get_num_threads());
      const std::size_t t = static_cast<std::size_t>(omp_get_thread_num());
      const std::size_t chunk = (bytes / threads + 63) / 64 * 64;
      const std::size_t begin = std::min(bytes, t * chunk);
      const std::size_t end = std::min(bytes, begin + chunk);
      std::memcpy(dst.data() + begin, src.data() + begin, end - begin);
    }
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 *
                          static_cast<int64_t>(bytes));
}

void sgemm_bench(benchmark::State& state, int m, int n, int k) {
  std::vector<float> a(static_cast<std::size_t>(m) * k, 0.5f);
  std::vector<float> b(static_cast<std::size_t>(n) * k, 0.25f);
  std::vector<float> c(static_cast<std::size_t>(m) * n);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a.data(), k, b.data(), k,
                0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["FLOPS"] = benchmark::Counter(2.0 * m * n * k, benchmark::Counter::kIsIterationInvariantRate);
}

// Generic limits at a few sizes; families add captures at their own shapes.
// Wall time (UseRealTime) throughout: these run on every OpenMP thread, so
// the main thread's CPU time would overstate the rate.
BENCHMARK_CAPTURE(memcpy_bench, Small_64KiB, std::size_t{64} << 10)->UseRealTime();
BENCHMARK_CAPTURE(memcpy_bench, 64MiB, std::size_t{64} << 20)->UseRealTime();
BENCHMARK_CAPTURE(sgemm_bench, Small_64, 64, 64, 64)->UseRealTime();
BENCHMARK_CAPTURE(sgemm_bench, 1024, 1024, 1024, 1024)->UseRealTime();

}  // namespace hybrec::bench
