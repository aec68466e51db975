// CPU attention at the model's shapes (batch 256 users, history L = 50 or
// 200, heads x head_dim = 2x32 or 4x64), measured against its limit in the
// same run: BM_AttentionEquivalentSgemm runs, for every (batch, head) under
// the same OpenMP loop, exactly the two cblas_sgemm calls of the forward (Q K^T
// and P V, no softmax), so attention / sgemm is read off one table.
//
// FLOPS counts the nominal GEMM work, 4*B*H*L*L*Dh for the forward (Q K^T and
// P V) and 2.5x that for the backward (five products). With padding the
// kernels skip padded keys, so the counter then reads as an effective rate.
// Times are wall-clock (UseRealTime): the work is spread over OpenMP threads.
// Padding (last argument 1): each sequence keeps a random length in [1, L],
// padded at the end, as users with a short history are.
#include "hybrec/kernels/attention.h"

#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "limits.h"

namespace hybrec::bench {
namespace {

using kernels::AttentionParams;
using kernels::Device;

struct AttentionInputs {
  std::vector<float> q, k, v, out, lse, dout, dq, dk, dv;
  std::vector<std::uint8_t> mask;
  AttentionParams params;

  AttentionInputs(std::int64_t B, std::int64_t L, std::int64_t H, std::int64_t D, bool padded) {
    const auto n = static_cast<std::size_t>(B * L * H * D);
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (auto* x : {&q, &k, &v, &dout}) {
      x->resize(n);
      for (float& value : *x) value = dist(rng);
    }
    out.resize(n);
    dq.resize(n);
    dk.resize(n);
    dv.resize(n);
    lse.resize(static_cast<std::size_t>(B * H * L));
    params.batch = B;
    params.seq_len = L;
    params.heads = H;
    params.head_dim = D;
    if (padded) {
      mask.assign(static_cast<std::size_t>(B * L), 0);
      std::uniform_int_distribution<std::int64_t> length(1, L);
      for (std::int64_t b = 0; b < B; ++b) {
        for (std::int64_t j = length(rng); j < L; ++j)
          mask[static_cast<std::size_t>(b * L + j)] = 1;
      }
      params.key_padding_mask = mask.data();
    }
    params.q = q.data();
    params.k = k.data();
    params.v = v.data();
    params.out = out.data();
    params.lse = lse.data();
    params.dout = dout.data();
    params.dq = dq.data();
    params.dk = dk.data();
    params.dv = dv.data();
  }
};

double forward_flops(std::int64_t B, std::int64_t L, std::int64_t H, std::int64_t D) {
  return 4.0 * static_cast<double>(B * H) * static_cast<double>(L * L) * static_cast<double>(D);
}

void run_forward(benchmark::State& state, std::int64_t B, std::int64_t L, std::int64_t H,
                 std::int64_t D, bool padded) {
  AttentionInputs in(B, L, H, D, padded);
  for (auto _ : state) {
    kernels::attention_forward(Device::cpu(), in.params);
    benchmark::DoNotOptimize(in.out.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOPS"] =
      benchmark::Counter(forward_flops(B, L, H, D), benchmark::Counter::kIsIterationInvariantRate);
}

void run_backward(benchmark::State& state, std::int64_t B, std::int64_t L, std::int64_t H,
                  std::int64_t D, bool padded) {
  AttentionInputs in(B, L, H, D, padded);
  kernels::attention_forward(Device::cpu(), in.params);
  for (auto _ : state) {
    kernels::attention_backward(Device::cpu(), in.params);
    benchmark::DoNotOptimize(in.dq.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOPS"] = benchmark::Counter(2.5 * forward_flops(B, L, H, D),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// The forward's two GEMMs per (batch, head), same strides, same parallel loop.
void run_equivalent_sgemm(benchmark::State& state, std::int64_t B, std::int64_t L, std::int64_t H,
                          std::int64_t D) {
  AttentionInputs in(B, L, H, D, false);
  const std::int64_t ld = H * D;
  std::vector<float> scratch(static_cast<std::size_t>(omp_get_max_threads() * L * L), 0.0f);
  // As the CPU attention does: one GEMM per OpenMP thread (OpenBLAS's
  // OpenMP build runs serially inside a parallel region).
  for (auto _ : state) {
#pragma omp parallel for schedule(dynamic)
    for (std::int64_t bh = 0; bh < B * H; ++bh) {
      const std::int64_t off = ((bh / H) * L * H + bh % H) * D;
      float* s = scratch.data() + static_cast<std::size_t>(omp_get_thread_num()) * L * L;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, D, 1.0f, in.q.data() + off, ld,
                  in.k.data() + off, ld, 0.0f, s, L);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, D, L, 1.0f, s, L, in.v.data() + off,
                  ld, 0.0f, in.out.data() + off, ld);
    }
    benchmark::DoNotOptimize(in.out.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOPS"] =
      benchmark::Counter(forward_flops(B, L, H, D), benchmark::Counter::kIsIterationInvariantRate);
}

// Args: batch, L, heads, head_dim, padded.
void BM_AttentionForward(benchmark::State& state) {
  run_forward(state, state.range(0), state.range(1), state.range(2), state.range(3),
              state.range(4) != 0);
}
void BM_AttentionBackward(benchmark::State& state) {
  run_backward(state, state.range(0), state.range(1), state.range(2), state.range(3),
               state.range(4) != 0);
}
// Args: L, heads, head_dim; batch 256 as the attention benchmarks.
void BM_AttentionEquivalentSgemm(benchmark::State& state) {
  run_equivalent_sgemm(state, 256, state.range(0), state.range(1), state.range(2));
}

void model_shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t L : {50, 200}) {
    for (auto hd : {std::pair<std::int64_t, std::int64_t>{2, 32}, {4, 64}}) {
      for (std::int64_t padded : {0, 1}) b->Args({256, L, hd.first, hd.second, padded});
    }
  }
}

BENCHMARK(BM_AttentionForward)->Apply(model_shapes)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AttentionBackward)->Apply(model_shapes)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AttentionEquivalentSgemm)
    ->Args({50, 2, 32})
    ->Args({50, 4, 64})
    ->Args({200, 2, 32})
    ->Args({200, 4, 64})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// One (L x L x Dh) product alone, as the generic limit table measures it.
BENCHMARK_CAPTURE(sgemm_bench, attention_L200_Dh64, 200, 200, 64);

// Smoke-test sizes (ctest runs --benchmark_filter=Small).
BENCHMARK(BM_AttentionForward)
    ->Name("BM_AttentionForwardSmall")
    ->Args({2, 16, 2, 8, 1})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AttentionBackward)
    ->Name("BM_AttentionBackwardSmall")
    ->Args({2, 16, 2, 8, 1})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AttentionEquivalentSgemm)
    ->Name("BM_AttentionEquivalentSgemmSmall")
    ->Args({16, 2, 8})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hybrec::bench
