// Timing for the GPU benchmarks: each iteration is bracketed by CUDA events
// on the benchmark's stream and reported as manual time, so launch and
// synchronisation overhead on the host is not counted as kernel time.
// Register such benchmarks with ->UseManualTime().
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include "hybrec/kernels/device.h"

namespace hybrec::bench {

class GpuTimer {
 public:
  GpuTimer() {
    cudaEventCreate(&start_);
    cudaEventCreate(&stop_);
  }
  ~GpuTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  GpuTimer(const GpuTimer&) = delete;
  GpuTimer& operator=(const GpuTimer&) = delete;

  template <typename Fn>
  void run(benchmark::State& state, cudaStream_t stream, Fn&& fn) {
    fn();  // warm-up: first-touch, lazy module loading, cuBLAS handle creation
    cudaStreamSynchronize(stream);
    for (auto _ : state) {
      cudaEventRecord(start_, stream);
      fn();
      cudaEventRecord(stop_, stream);
      cudaEventSynchronize(stop_);
      float ms = 0.0f;
      cudaEventElapsedTime(&ms, start_, stop_);
      state.SetIterationTime(static_cast<double>(ms) * 1e-3);
    }
    const cudaError_t status = cudaGetLastError();
    if (status != cudaSuccess) state.SkipWithError(cudaGetErrorString(status));
  }

 private:
  cudaEvent_t start_{}, stop_{};
};

// True (and the benchmark skipped with a message) when there is no device.
inline bool skip_without_gpu(benchmark::State& state) {
  if (kernels::cuda_device_count() > 0) return false;
  state.SkipWithError("no CUDA device");
  return true;
}

}  // namespace hybrec::bench
