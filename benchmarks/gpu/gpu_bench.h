// Timing for the GPU benchmarks: each iteration is bracketed by CUDA events
// on the benchmark's stream and reported as manual time, so host-side
// synchronisation is not counted as kernel time. An iteration runs the op
// back to back enough times to fill ~200 us (as a training step's stream
// does), and reports the time per call: a single call between two events
// also measures the few microseconds the GPU idles from one event to the
// kernel, which is most of the time of a 10 us kernel.
// Register such benchmarks with ->UseManualTime().
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>

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
    const double one_call = time_calls(stream, fn, 1);
    const int calls = static_cast<int>(std::clamp(200e-6 / std::max(one_call, 1e-7), 1.0, 64.0));
    for (auto _ : state) state.SetIterationTime(time_calls(stream, fn, calls) / calls);
    state.counters["calls_per_iteration"] = calls;
    const cudaError_t status = cudaGetLastError();
    if (status != cudaSuccess) state.SkipWithError(cudaGetErrorString(status));
  }

 private:
  // Seconds for `calls` back-to-back calls of fn on `stream`.
  template <typename Fn>
  double time_calls(cudaStream_t stream, Fn& fn, int calls) {
    cudaEventRecord(start_, stream);
    for (int i = 0; i < calls; ++i) fn();
    cudaEventRecord(stop_, stream);
    cudaEventSynchronize(stop_);
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, start_, stop_);
    return static_cast<double>(ms) * 1e-3;
  }

  cudaEvent_t start_{}, stop_{};
};

// True (and the benchmark skipped with a message) when there is no device.
inline bool skip_without_gpu(benchmark::State& state) {
  if (kernels::cuda_device_count() > 0) return false;
  state.SkipWithError("no CUDA device");
  return true;
}

}  // namespace hybrec::bench
