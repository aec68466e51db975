// The transformer block on the CUDA backend against the CPU backend, for
// head_dim 32 (the CUDA attention's smallest): forward, backward, inference,
// prefill and decode over packed batches of mixed lengths including 1. The
// packings start groups at odd rows, where a 2-head lse block is 16-byte
// aligned (as the CUDA attention requires) only thanks to the block's lse
// stride. Skips without a CUDA device. Tolerances,
// |cuda - cpu| <= atol + rtol * |cpu| (fp32 on both, different summation
// orders through two layer norms):
//   y, dx, prefill and decode outputs   atol 1e-4, rtol 1e-3
//   parameter gradients (row sums)      atol 1e-3, rtol 1e-3
#include <gtest/gtest.h>

#include <cmath>

#include "block_testing.h"
#include "hybrec/kernels/attention.h"
#include "hybrec/kernels/device.h"
#include "trainer/nn/kv_cache.h"
#include "trainer/nn/transformer_block.h"

namespace hybrec::nn {
namespace {

namespace k = hybrec::kernels;
using testing::FlatLayout;
using testing::Packing;

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (k::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  }
  const k::Device cpu_ = k::Device::cpu();
  const k::Device gpu_ = k::Device::cuda();
};

class TransformerBlockGpu : public GpuTest, public ::testing::WithParamInterface<bool> {};

BlockShape gpu_shape(bool causal) {
  BlockShape s;
  s.dim = 64;
  s.heads = 2;
  s.hidden = 128;
  s.eps = 1e-12f;  // BERT's
  s.causal = causal;
  return s;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, double atol,
                  double rtol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], atol + rtol * std::fabs(want[i])) << what << " value " << i;
  }
}

std::vector<float> host(const k::Buffer<float>& b, int64_t count) {
  std::vector<float> v = b.download();
  v.resize(static_cast<std::size_t>(count));
  return v;
}

TEST_P(TransformerBlockGpu, ForwardBackwardAndInferenceMatchTheCpuBackend) {
  const BlockShape s = gpu_shape(GetParam());
  const FlatLayout layout(s);
  const Packing packing({1, 7, 7, 3, 1, 12, 12, 12, 5});
  const int64_t n = packing.rows * s.dim;
  const std::vector<float> params = testing::random_block(s, 11);
  const std::vector<float> x = testing::random_values(12, n, 1.0f);
  const std::vector<float> dy = testing::random_values(13, n, 1.0f);

  // CPU.
  BlockActivations acts;
  block_forward(cpu_, s, layout.tensors(params.data()), packing.packed(), x.data(), &acts);
  const std::vector<float> want_y(acts.out.data(), acts.out.data() + n);
  std::vector<float> want_grad(static_cast<std::size_t>(layout.total), 0.0f), want_dx(n);
  BlockBackwardScratch scratch;
  block_backward(cpu_, s, layout.tensors(params.data()), layout.tensors(want_grad.data()),
                 packing.packed(), x.data(), acts, dy.data(), &scratch, want_dx.data());

  // CUDA.
  const k::Buffer<float> d_params(gpu_, params), d_x(gpu_, x), d_dy(gpu_, dy);
  k::Buffer<float> d_grad(gpu_, static_cast<std::size_t>(layout.total)), d_dx(gpu_, n),
      d_y(gpu_, n);
  d_grad.zero();
  BlockActivations g_acts;
  BlockBackwardScratch g_scratch;
  BlockInferenceScratch g_infer;
  const BlockWeights w = layout.tensors(d_params.data());
  block_forward(gpu_, s, w, packing.packed(), d_x.data(), &g_acts);
  block_backward(gpu_, s, w, layout.tensors(d_grad.data()), packing.packed(), d_x.data(), g_acts,
                 d_dy.data(), &g_scratch, d_dx.data());
  block_inference(gpu_, s, w, packing.packed(), d_x.data(), &g_infer, d_y.data());
  k::synchronize(gpu_);

  expect_close(host(g_acts.out, n), want_y, 1e-4, 1e-3, "forward y");
  expect_close(d_y.download(), want_y, 1e-4, 1e-3, "inference y");
  expect_close(d_dx.download(), want_dx, 1e-4, 1e-3, "dx");
  expect_close(d_grad.download(), want_grad, 1e-3, 1e-3, "parameter gradients");
}

INSTANTIATE_TEST_SUITE_P(Masks, TransformerBlockGpu, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Causal" : "Bidirectional";
                         });

using TransformerBlockDecodeGpu = GpuTest;

// Prefill of mixed lengths, then decode steps, on both backends.
TEST_F(TransformerBlockDecodeGpu, PrefillAndDecodeMatchTheCpuBackend) {
  const BlockShape s = gpu_shape(true);
  const FlatLayout layout(s);
  const std::vector<int64_t> prompt = {4, 1, 1, 9};
  const int64_t batch = 4, steps = 3, max_len = 12, d = s.dim;
  k::AttentionDecodeParams support;
  support.batch = batch;
  support.heads = s.heads;
  support.head_dim = s.head_dim();
  support.max_len = max_len;
  if (!k::attention_decode_supports(gpu_, support)) GTEST_SKIP() << "decode shape unsupported";

  const Packing packing(prompt);
  const std::vector<float> params = testing::random_block(s, 21);
  const std::vector<float> x = testing::random_values(22, packing.rows * d, 1.0f);
  const std::vector<float> tokens = testing::random_values(23, steps * batch * d, 1.0f);

  // Runs prefill + decode on one device; returns the prefill output followed
  // by every step's output rows.
  auto run = [&](const k::Device& dev) {
    const k::Buffer<float> p(dev, params);
    k::Buffer<float> h(dev, x), tok(dev, static_cast<std::size_t>(batch * d));
    PrefillRows rows;
    KvCache cache;
    DecodeStep step;
    BlockInferenceScratch scratch;
    const BlockWeights w = layout.tensors(p.data());
    make_prefill_rows(dev, packing.packed(), max_len, &rows);
    block_prefill(dev, s, w, packing.packed(), rows, h.data(), &scratch, &cache, h.data());
    std::vector<float> out = h.download();
    std::vector<int64_t> lengths(prompt);
    for (int64_t i = 0; i < steps; ++i) {
      for (int64_t& len : lengths) ++len;
      k::copy_to_device(dev, tok.data(), tokens.data() + i * batch * d,
                        static_cast<std::size_t>(batch * d) * sizeof(float));
      make_decode_step(dev, lengths.data(), batch, max_len, &step);
      block_decode(dev, s, w, step, tok.data(), &scratch, &cache, tok.data());
      const std::vector<float> y = tok.download();
      out.insert(out.end(), y.begin(), y.end());
    }
    return out;
  };
  const std::vector<float> want = run(cpu_);
  const std::vector<float> got = run(gpu_);
  expect_close(got, want, 1e-4, 1e-3, "prefill and decode outputs");
}

}  // namespace
}  // namespace hybrec::nn
