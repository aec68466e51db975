// CUDA dense ops at the model's shapes, timed with CUDA events. Compare with
// BM_GpuSgemm (fp32 FLOP/s) and BM_GpuMemcpy (HBM bytes/s, read + write) from
// limits.cu in the same run. Working sets under ~40 MB (softmax 4096 x 1024,
// the sampled softmax, linear) stay in an H100's 50 MB L2 between
// iterations, so their bytes/s can exceed HBM bandwidth.
#include <cstdint>

#include "cuda/check.h"
#include "gpu_bench.h"
#include "hybrec/kernels/dense.h"

namespace hybrec::bench {
namespace {

namespace hk = hybrec::kernels;

// Uniform values in [lo, hi) from a hash of (seed, index), generated on the
// device: the largest inputs here are ~200M floats, too slow to draw on the host.
__global__ void fill_uniform_kernel(float* out, int64_t count, uint64_t seed, float lo, float hi) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    uint64_t h = (static_cast<uint64_t>(i) + 1) * 0x9E3779B97F4A7C15ull ^ seed;  // splitmix64
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    h ^= h >> 31;
    out[i] = lo + (hi - lo) * static_cast<float>(h >> 40) * (1.0f / 16777216.0f);
  }
}

hk::Buffer<float> device_random(int64_t count, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  hk::Buffer<float> buffer(hk::Device::cuda(), static_cast<std::size_t>(count));
  HYBREC_LAUNCH(fill_uniform_kernel, kernels::cuda::grid_for(count, 256), 256, 0, nullptr,
                buffer.data(), count, seed, lo, hi);
  HYBREC_CUDA_CHECK(cudaStreamSynchronize(nullptr));
  return buffer;
}

void set_bytes(benchmark::State& state, double bytes_per_iter) {
  state.SetBytesProcessed(
      static_cast<int64_t>(bytes_per_iter * static_cast<double>(state.iterations())));
}

void set_flops(benchmark::State& state, double flops_per_iter) {
  state.counters["FLOPS"] =
      benchmark::Counter(flops_per_iter, benchmark::Counter::kIsIterationInvariantRate);
}

// Args: n, in_features, out_features. y = x W^T + b.
void BM_GpuLinearForward(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int64_t n = state.range(0), in = state.range(1), out = state.range(2);
  auto x = device_random(n * in, 1), w = device_random(out * in, 2), b = device_random(out, 3);
  hk::Buffer<float> y(hk::Device::cuda(), static_cast<std::size_t>(n * out));
  hk::LinearParams p{n, in, out};
  p.x = x.data();
  p.weight = w.data();
  p.bias = b.data();
  p.y = y.data();
  GpuTimer timer;
  timer.run(state, nullptr, [&] { hk::linear_forward(hk::Device::cuda(), p); });
  set_flops(state, 2.0 * n * in * out);
}
BENCHMARK(BM_GpuLinearForward)
    ->Args({4096, 64, 256})
    ->Args({4096, 256, 64})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// dx = dy W, dW += dy^T x, db += colsum(dy): two GEMMs of the forward's size.
void BM_GpuLinearBackward(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int64_t n = state.range(0), in = state.range(1), out = state.range(2);
  auto x = device_random(n * in, 4), w = device_random(out * in, 5), dy = device_random(n * out, 6);
  const auto gpu = hk::Device::cuda();
  hk::Buffer<float> dx(gpu, static_cast<std::size_t>(n * in)),
      dw(gpu, static_cast<std::size_t>(out * in)), db(gpu, static_cast<std::size_t>(out));
  dw.zero();
  db.zero();
  hk::LinearParams p{n, in, out};
  p.x = x.data();
  p.weight = w.data();
  p.dy = dy.data();
  p.dx = dx.data();
  p.dweight = dw.data();
  p.dbias = db.data();
  GpuTimer timer;
  timer.run(state, nullptr, [&] { hk::linear_backward(gpu, p); });
  set_flops(state, 4.0 * n * in * out);
}
BENCHMARK(BM_GpuLinearBackward)
    ->Args({4096, 64, 256})
    ->Args({4096, 256, 64})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

struct GpuLayerNorm {
  hk::Buffer<float> x, gamma, beta, y, mean, rstd, dy, dx, dgamma, dbeta;
  hk::LayerNormParams p;
  GpuLayerNorm(int64_t n, int64_t dim)
      : x(device_random(n * dim, 7, -2.0f, 2.0f)),
        gamma(device_random(dim, 8)),
        beta(device_random(dim, 9)),
        y(hk::Device::cuda(), static_cast<std::size_t>(n * dim)),
        mean(hk::Device::cuda(), static_cast<std::size_t>(n)),
        rstd(hk::Device::cuda(), static_cast<std::size_t>(n)),
        dy(device_random(n * dim, 10)),
        dx(hk::Device::cuda(), static_cast<std::size_t>(n * dim)),
        dgamma(hk::Device::cuda(), static_cast<std::size_t>(dim)),
        dbeta(hk::Device::cuda(), static_cast<std::size_t>(dim)) {
    dgamma.zero();
    dbeta.zero();
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

// Args: rows, dim. Bytes: read x, write y, mean and rstd.
void BM_GpuLayerNormForward(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int64_t n = state.range(0), dim = state.range(1);
  GpuLayerNorm b(n, dim);
  GpuTimer timer;
  timer.run(state, nullptr, [&] { hk::layer_norm_forward(hk::Device::cuda(), b.p); });
  set_bytes(state, 4.0 * (2.0 * n * dim + 2.0 * n));
}
BENCHMARK(BM_GpuLayerNormForward)
    ->Args({4096 * 50, 64})
    ->Args({4096, 1024})
    ->Args({4096, 4096})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// Bytes: read x and dy, write dx, read mean and rstd (the dgamma/dbeta pass
// rereads x and dy; not counted).
void BM_GpuLayerNormBackward(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int64_t n = state.range(0), dim = state.range(1);
  GpuLayerNorm b(n, dim);
  hk::layer_norm_forward(hk::Device::cuda(), b.p);
  GpuTimer timer;
  timer.run(state, nullptr, [&] { hk::layer_norm_backward(hk::Device::cuda(), b.p); });
  set_bytes(state, 4.0 * (3.0 * n * dim + 2.0 * n));
}
BENCHMARK(BM_GpuLayerNormBackward)
    ->Args({4096 * 50, 64})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// Arg: elements. Bytes: read x, write y.
void BM_GpuGeluForward(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int64_t count = state.range(0);
  auto x = device_random(count, 11, -4.0f, 4.0f);
  hk::Buffer<float> y(hk::Device::cuda(), static_cast<std::size_t>(count));
  GpuTimer timer;
  timer.run(state, nullptr,
            [&] { hk::gelu_forward(hk::Device::cuda(), x.data(), count, y.data()); });
  set_bytes(state, 8.0 * count);
}
BENCHMARK(BM_GpuGeluForward)
    ->Arg(int64_t{4096} * 50 * 256)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// Arg: elements. Bytes: read x and dy, write dx.
void BM_GpuGeluBackward(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int64_t count = state.range(0);
  auto x = device_random(count, 12, -4.0f, 4.0f), dy = device_random(count, 13);
  hk::Buffer<float> dx(hk::Device::cuda(), static_cast<std::size_t>(count));
  GpuTimer timer;
  timer.run(state, nullptr,
            [&] { hk::gelu_backward(hk::Device::cuda(), x.data(), dy.data(), count, dx.data()); });
  set_bytes(state, 12.0 * count);
}
BENCHMARK(BM_GpuGeluBackward)
    ->Arg(int64_t{4096} * 50 * 256)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// Args: n, c. Bytes: read x, write y.
void BM_GpuSoftmaxForward(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int64_t n = state.range(0), c = state.range(1);
  auto x = device_random(n * c, 14, -5.0f, 5.0f);
  hk::Buffer<float> y(hk::Device::cuda(), static_cast<std::size_t>(n * c));
  GpuTimer timer;
  timer.run(state, nullptr,
            [&] { hk::softmax_forward(hk::Device::cuda(), x.data(), n, c, y.data()); });
  set_bytes(state, 8.0 * n * c);
}
BENCHMARK(BM_GpuSoftmaxForward)
    ->Args({4096, 1024})
    ->Args({4096 * 50, 1024})  // past L2: the HBM-bound figure
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// Args: n. Bytes: read logits and labels.
void BM_GpuBceWithLogits(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int64_t n = state.range(0);
  auto logits = device_random(n, 17, -6.0f, 6.0f), labels = device_random(n, 18, 0.0f, 1.0f);
  hk::Buffer<float> loss(hk::Device::cuda(), 1);
  GpuTimer timer;
  timer.run(state, nullptr, [&] {
    hk::bce_with_logits_forward(hk::Device::cuda(), logits.data(), labels.data(), nullptr, n,
                                loss.data());
  });
  set_bytes(state, 8.0 * n);
}
BENCHMARK(BM_GpuBceWithLogits)->Arg(1 << 20)->UseManualTime()->Unit(benchmark::kMicrosecond);

// Args: n, c; with the logQ correction. Bytes: read logits and log_q.
void BM_GpuSampledSoftmax(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int64_t n = state.range(0), c = state.range(1);
  auto logits = device_random(n * c, 21, -5.0f, 5.0f),
       log_q = device_random(n * c, 22, -12.0f, -1.0f);
  hk::Buffer<float> loss(hk::Device::cuda(), 1);
  GpuTimer timer;
  timer.run(state, nullptr, [&] {
    hk::sampled_softmax_loss_forward(hk::Device::cuda(), logits.data(), log_q.data(), n, c,
                                     loss.data());
  });
  set_bytes(state, 8.0 * n * c);
}
BENCHMARK(BM_GpuSampledSoftmax)->Args({4096, 101})->UseManualTime()->Unit(benchmark::kMicrosecond);

// Args: n, c. Bytes: read logits and log_q, write dlogits.
void BM_GpuSampledSoftmaxBackward(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const int64_t n = state.range(0), c = state.range(1);
  auto logits = device_random(n * c, 23, -5.0f, 5.0f),
       log_q = device_random(n * c, 24, -12.0f, -1.0f);
  hk::Buffer<float> d(hk::Device::cuda(), static_cast<std::size_t>(n * c));
  GpuTimer timer;
  timer.run(state, nullptr, [&] {
    hk::sampled_softmax_loss_backward(hk::Device::cuda(), logits.data(), log_q.data(), n, c, 1.0f,
                                      d.data());
  });
  set_bytes(state, 12.0 * n * c);
}
BENCHMARK(BM_GpuSampledSoftmaxBackward)
    ->Args({4096, 101})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hybrec::bench
