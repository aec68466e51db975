// Device limits measured in the same run as the GPU kernels: a
// device-to-device copy (HBM bandwidth, bytes read + written) and cuBLAS
// sgemm (fp32 FLOP/s).
#include <cublas_v2.h>

#include "cuda/check.h"
#include "gpu_bench.h"

namespace hybrec::bench {
namespace {

void BM_GpuMemcpy(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const std::size_t bytes = static_cast<std::size_t>(state.range(0)) << 20;
  const auto gpu = kernels::Device::cuda();
  kernels::Buffer<char> src(gpu, bytes), dst(gpu, bytes);
  src.zero();
  GpuTimer timer;
  timer.run(state, nullptr, [&] {
    HYBREC_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice));
  });
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 * static_cast<int64_t>(bytes));
}
BENCHMARK(BM_GpuMemcpy)->Arg(512)->UseManualTime()->Unit(benchmark::kMicrosecond);

void BM_GpuSgemm(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int n = static_cast<int>(state.range(0));
  const auto gpu = kernels::Device::cuda();
  kernels::Buffer<float> a(gpu, std::size_t(n) * n), b(gpu, std::size_t(n) * n),
      c(gpu, std::size_t(n) * n);
  a.zero();
  b.zero();
  cublasHandle_t handle = kernels::cuda::cublas_handle(nullptr);
  // Plain fp32 (no TF32): the fp32 CUDA-core peak is the limit for fp32 kernels.
  HYBREC_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
  const float one = 1.0f, zero = 0.0f;
  GpuTimer timer;
  timer.run(state, nullptr, [&] {
    HYBREC_CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a.data(), n,
                                    b.data(), n, &zero, c.data(), n));
  });
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_GpuSgemm)->Arg(4096)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hybrec::bench
