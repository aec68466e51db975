// CPU dense ops at the model's shapes (batch 4096, history 50, d = 64,
// FFN width 256, 100 sampled negatives), each next to its limit measured in
// the same run: sgemm at the same m, n, k for linear, a parallel memcpy of
// the same bytes for the memory-bound ops. "Small" variants are the ctest
// smoke run. All use wall time (UseRealTime): the ops run on every OpenMP
// thread, and the main thread's CPU time would overstate their rates.
#include "hybrec/kernels/dense.h"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "limits.h"

namespace hybrec::bench {
namespace {

namespace hk = hybrec::kernels;
const hk::Device kCpu = hk::Device::cpu();

std::vector<float> filled(int64_t count, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(count));
  for (auto& x : v) x = dist(rng);
  return v;
}

void set_bytes(benchmark::State& state, double bytes_per_iter) {
  state.SetBytesProcessed(
      static_cast<int64_t>(bytes_per_iter * static_cast<double>(state.iterations())));
}

// ---------------------------------------------------------------------------

void BM_LinearForward(benchmark::State& state, int64_t n, int64_t in, int64_t out) {
  const auto x = filled(n * in, 1), w = filled(out * in, 2), b = filled(out, 3);
  std::vector<float> y(static_cast<std::size_t>(n * out));
  hk::LinearParams p{n, in, out};
  p.x = x.data();
  p.weight = w.data();
  p.bias = b.data();
  p.y = y.data();
  for (auto _ : state) {
    hk::linear_forward(kCpu, p);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * n * in * out, benchmark::Counter::kIsIterationInvariantRate);
}

// dx = dy W and dW += dy^T x: two GEMMs of the forward's size, plus db.
void BM_LinearBackward(benchmark::State& state, int64_t n, int64_t in, int64_t out) {
  const auto x = filled(n * in, 4), w = filled(out * in, 5), dy = filled(n * out, 6);
  std::vector<float> dx(static_cast<std::size_t>(n * in)), dw(static_cast<std::size_t>(out * in)),
      db(static_cast<std::size_t>(out));
  hk::LinearParams p{n, in, out};
  p.x = x.data();
  p.weight = w.data();
  p.dy = dy.data();
  p.dx = dx.data();
  p.dweight = dw.data();
  p.dbias = db.data();
  for (auto _ : state) {
    hk::linear_backward(kCpu, p);
    benchmark::DoNotOptimize(dw.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOPS"] =
      benchmark::Counter(4.0 * n * in * out, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_CAPTURE(BM_LinearForward, Small, 64, 16, 32)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_LinearForward, n4096_64x256, 4096, 64, 256)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(sgemm_bench, dense_n4096_64x256, 4096, 256, 64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_LinearForward, n4096_256x64, 4096, 256, 64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(sgemm_bench, dense_n4096_256x64, 4096, 64, 256)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_LinearBackward, Small, 64, 16, 32)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_LinearBackward, n4096_64x256, 4096, 64, 256)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_LinearBackward, n4096_256x64, 4096, 256, 64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------

struct LayerNormBuffers {
  std::vector<float> x, gamma, beta, y, mean, rstd, dy, dx, dgamma, dbeta;
  hk::LayerNormParams p;
  LayerNormBuffers(int64_t n, int64_t dim)
      : x(filled(n * dim, 7, -2.0f, 2.0f)),
        gamma(filled(dim, 8)),
        beta(filled(dim, 9)),
        y(x.size()),
        mean(static_cast<std::size_t>(n)),
        rstd(static_cast<std::size_t>(n)),
        dy(filled(n * dim, 10)),
        dx(x.size()),
        dgamma(static_cast<std::size_t>(dim)),
        dbeta(static_cast<std::size_t>(dim)) {
    p.n = n;
    p.dim = dim;
    p.x = x.data();
    p.gamma = gamma.data();
    p.beta = beta.data();
    p.y = y.data();
    p.mean = mean.data();
    p.rstd = rstd.data();
    p.dy = dy.data();
    p.dx = dx.data();
    p.dgamma = dgamma.data();
    p.dbeta = dbeta.data();
  }
};

// Bytes: read x, write y, write mean and rstd.
void BM_LayerNormForward(benchmark::State& state, int64_t n, int64_t dim) {
  LayerNormBuffers b(n, dim);
  for (auto _ : state) {
    hk::layer_norm_forward(kCpu, b.p);
    benchmark::DoNotOptimize(b.y.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 4.0 * (2.0 * n * dim + 2.0 * n));
}

// Bytes: read x and dy, write dx, read mean and rstd.
void BM_LayerNormBackward(benchmark::State& state, int64_t n, int64_t dim) {
  LayerNormBuffers b(n, dim);
  hk::layer_norm_forward(kCpu, b.p);
  for (auto _ : state) {
    hk::layer_norm_backward(kCpu, b.p);
    benchmark::DoNotOptimize(b.dx.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 4.0 * (3.0 * n * dim + 2.0 * n));
}

constexpr int64_t kNormRows = 4096 * 50;  // batch x history positions
BENCHMARK_CAPTURE(BM_LayerNormForward, Small, 256, 64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_LayerNormForward, rows204800_dim64, kNormRows, 64)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LayerNormBackward, Small, 256, 64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_LayerNormBackward, rows204800_dim64, kNormRows, 64)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
// memcpy_bench counts 2 x bytes (read + write): the forward's x in, y out.
BENCHMARK_CAPTURE(memcpy_bench, dense_layer_norm_52MB, std::size_t{kNormRows} * 64 * 4)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------

void BM_GeluForward(benchmark::State& state, int64_t count) {
  const auto x = filled(count, 11, -4.0f, 4.0f);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    hk::gelu_forward(kCpu, x.data(), count, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 8.0 * count);
}

void BM_GeluBackward(benchmark::State& state, int64_t count) {
  const auto x = filled(count, 12, -4.0f, 4.0f), dy = filled(count, 13);
  std::vector<float> dx(x.size());
  for (auto _ : state) {
    hk::gelu_backward(kCpu, x.data(), dy.data(), count, dx.data());
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 12.0 * count);
}

constexpr int64_t kGeluCount = int64_t{4096} * 50 * 256;  // FFN hidden activations
BENCHMARK_CAPTURE(BM_GeluForward, Small, 4096)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_GeluForward, n52M, kGeluCount)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_GeluBackward, Small, 4096)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_GeluBackward, n52M, kGeluCount)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(memcpy_bench, dense_gelu_210MB, std::size_t{kGeluCount} * 4)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------

void BM_SoftmaxForward(benchmark::State& state, int64_t n, int64_t c) {
  const auto x = filled(n * c, 14, -5.0f, 5.0f);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    hk::softmax_forward(kCpu, x.data(), n, c, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 8.0 * n * c);
}

void BM_SoftmaxBackward(benchmark::State& state, int64_t n, int64_t c) {
  const auto y = filled(n * c, 15, 0.0f, 0.01f), dy = filled(n * c, 16);
  std::vector<float> dx(y.size());
  for (auto _ : state) {
    hk::softmax_backward(kCpu, y.data(), dy.data(), n, c, dx.data());
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 12.0 * n * c);
}

BENCHMARK_CAPTURE(BM_SoftmaxForward, Small, 64, 64)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SoftmaxForward, n4096_c1024, 4096, 1024)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SoftmaxBackward, Small, 64, 64)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SoftmaxBackward, n4096_c1024, 4096, 1024)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(memcpy_bench, dense_softmax_16MB, std::size_t{4096} * 1024 * 4)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------

// Bytes: read logits and labels (forward); plus write dlogits (backward).
void BM_BceWithLogitsForward(benchmark::State& state, int64_t n) {
  const auto logits = filled(n, 17, -6.0f, 6.0f), labels = filled(n, 18, 0.0f, 1.0f);
  float loss = 0.0f;
  for (auto _ : state) {
    hk::bce_with_logits_forward(kCpu, logits.data(), labels.data(), nullptr, n, &loss);
    benchmark::DoNotOptimize(loss);
  }
  set_bytes(state, 8.0 * n);
}

void BM_BceWithLogitsBackward(benchmark::State& state, int64_t n) {
  const auto logits = filled(n, 19, -6.0f, 6.0f), labels = filled(n, 20, 0.0f, 1.0f);
  std::vector<float> d(logits.size());
  for (auto _ : state) {
    hk::bce_with_logits_backward(kCpu, logits.data(), labels.data(), nullptr, n, 1.0f, d.data());
    benchmark::DoNotOptimize(d.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 12.0 * n);
}

BENCHMARK_CAPTURE(BM_BceWithLogitsForward, Small, 4096)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_BceWithLogitsForward, n1M, int64_t{1} << 20)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_BceWithLogitsBackward, Small, 4096)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_BceWithLogitsBackward, n1M, int64_t{1} << 20)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------

// With the logQ correction. Bytes: read logits and log_q (forward); plus
// write dlogits (backward).
void BM_SampledSoftmaxForward(benchmark::State& state, int64_t n, int64_t c) {
  const auto logits = filled(n * c, 21, -5.0f, 5.0f), log_q = filled(n * c, 22, -12.0f, -1.0f);
  float loss = 0.0f;
  for (auto _ : state) {
    hk::sampled_softmax_loss_forward(kCpu, logits.data(), log_q.data(), n, c, &loss);
    benchmark::DoNotOptimize(loss);
  }
  set_bytes(state, 8.0 * n * c);
}

void BM_SampledSoftmaxBackward(benchmark::State& state, int64_t n, int64_t c) {
  const auto logits = filled(n * c, 23, -5.0f, 5.0f), log_q = filled(n * c, 24, -12.0f, -1.0f);
  std::vector<float> d(logits.size());
  for (auto _ : state) {
    hk::sampled_softmax_loss_backward(kCpu, logits.data(), log_q.data(), n, c, 1.0f, d.data());
    benchmark::DoNotOptimize(d.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 12.0 * n * c);
}

BENCHMARK_CAPTURE(BM_SampledSoftmaxForward, Small, 64, 11)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SampledSoftmaxForward, n4096_c101, 4096, 101)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SampledSoftmaxBackward, Small, 64, 11)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SampledSoftmaxBackward, n4096_c101, 4096, 101)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hybrec::bench
