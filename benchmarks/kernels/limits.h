// The limits the kernel benchmarks are measured against, in the same run:
// memory bandwidth (a parallel memcpy over the same bytes) and BLAS sgemm
// throughput at a comparable size. Families register them next to their own
// benchmarks with BENCHMARK_CAPTURE so the ratio is read off one table.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>

namespace hybrec::bench {

// Copies `bytes` with all OpenMP threads; counter bytes_per_second counts
// bytes read plus bytes written (2 x bytes per copy).
void memcpy_bench(benchmark::State& state, std::size_t bytes);

// C[m x n] = A[m x k] * B[k x n]^T (row-major) through cblas_sgemm;
// counter FLOPS = 2*m*n*k per iteration.
void sgemm_bench(benchmark::State& state, int m, int n, int k);

}  // namespace hybrec::bench
