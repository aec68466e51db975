// GPU attention at the model's shapes: batch 256, L = 50/200/512, heads x
// head_dim = 4x64 and 2x32 (and 2x128), causal 0/1.
// Names: BM_GpuAttentionForward/<batch>/<L>/<heads>/<head_dim>/<causal>, the
// same for BM_GpuAttentionBackward.
//
// FLOPS counts the nominal GEMM work, 4*B*H*L*L*Dh for the forward (Q K^T and
// P V) and 2.5x that for the backward (five products: dV = P^T dO, dP = dO V^T,
// dQ, dK, and the recomputed Q K^T; the kernels actually run seven, the dq and
// dk/dv kernels each recomputing Q K^T and dO V^T). Causal runs count the full
// square too, so their rate reads as an effective one.
// The reference point is PyTorch's fp32 scaled_dot_product_attention (the
// memory-efficient kernel) at 256 x 200 x 4 x 64, timed on the same GPU.
#include <cstdint>
#include <utility>

#include "cuda/check.h"
#include "gpu_bench.h"
#include "hybrec/kernels/attention.h"

namespace hybrec::bench {
namespace {

using kernels::AttentionParams;
using kernels::Buffer;
using kernels::Device;

// Deterministic values in [-1, 1) without a host round trip.
__global__ void fill_uniform(float* x, std::int64_t n, std::uint32_t seed) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    std::uint32_t h = static_cast<std::uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    x[i] = static_cast<float>(h >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
}

struct GpuAttentionInputs {
  Buffer<float> q, k, v, out, lse, dout, dq, dk, dv;
  AttentionParams params;

  GpuAttentionInputs(const Device& gpu, std::int64_t B, std::int64_t L, std::int64_t H,
                     std::int64_t D, bool causal)
      : q(gpu, B * L * H * D),
        k(gpu, B * L * H * D),
        v(gpu, B * L * H * D),
        out(gpu, B * L * H * D),
        lse(gpu, B * H * L),
        dout(gpu, B * L * H * D),
        dq(gpu, B * L * H * D),
        dk(gpu, B * L * H * D),
        dv(gpu, B * L * H * D) {
    std::uint32_t seed = 1;
    for (auto* x : {&q, &k, &v, &dout}) {
      HYBREC_LAUNCH(fill_uniform, kernels::cuda::grid_for(x->size(), 256), 256, 0, nullptr,
                    x->data(), static_cast<std::int64_t>(x->size()), seed++);
    }
    params.batch = B;
    params.seq_len = L;
    params.heads = H;
    params.head_dim = D;
    params.causal = causal;
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

// Args: batch, L, heads, head_dim, causal.
void BM_GpuAttentionForward(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const auto B = state.range(0), L = state.range(1), H = state.range(2), D = state.range(3);
  const auto gpu = Device::cuda();
  GpuAttentionInputs in(gpu, B, L, H, D, state.range(4) != 0);
  GpuTimer timer;
  timer.run(state, nullptr, [&] { kernels::attention_forward(gpu, in.params); });
  state.counters["FLOPS"] =
      benchmark::Counter(forward_flops(B, L, H, D), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_GpuAttentionBackward(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const auto B = state.range(0), L = state.range(1), H = state.range(2), D = state.range(3);
  const auto gpu = Device::cuda();
  GpuAttentionInputs in(gpu, B, L, H, D, state.range(4) != 0);
  kernels::attention_forward(gpu, in.params);
  GpuTimer timer;
  timer.run(state, nullptr, [&] { kernels::attention_backward(gpu, in.params); });
  state.counters["FLOPS"] = benchmark::Counter(2.5 * forward_flops(B, L, H, D),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

void model_shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t L : {50, 200, 512}) {
    for (auto hd : {std::pair<std::int64_t, std::int64_t>{4, 64}, {2, 32}}) {
      for (std::int64_t causal : {0, 1}) b->Args({256, L, hd.first, hd.second, causal});
    }
  }
  b->Args({256, 200, 2, 128, 0});
}

BENCHMARK(BM_GpuAttentionForward)
    ->Apply(model_shapes)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GpuAttentionBackward)
    ->Apply(model_shapes)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hybrec::bench
