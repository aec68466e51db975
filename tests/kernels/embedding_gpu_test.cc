// CUDA embedding ops against the CPU backend on the same inputs, with the
// tolerances stated in hybrec/kernels/embedding.h, plus the device-side
// index validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "embedding_reference.h"
#include "hybrec/kernels/embedding.h"
#include "testing.h"

namespace hk = hybrec::kernels;
namespace ht = hybrec::testing;

namespace {

// Tolerances from the header.
constexpr double kAtol = 1e-5, kRtol = 1e-5;
constexpr double kUpdateAtol = 1e-5, kUpdateRtol = 1e-4;

const hk::Device kCpu = hk::Device::cpu();

// Device copies of a problem; bags() points at them.
struct DeviceProblem {
  explicit DeviceProblem(const ht::BagProblem& p, const hk::Device& gpu)
      : host(p),
        table(gpu, p.table.empty() ? std::vector<float>(1) : p.table),
        indices(gpu, p.indices),
        offsets(gpu, p.offsets),
        weights(gpu, p.weights) {}

  hk::EmbeddingBags bags() const {
    hk::EmbeddingBags v = host.bags();
    v.indices = indices.data();
    v.offsets = host.offsets.empty() ? nullptr : offsets.data();
    v.per_sample_weights = host.weights.empty() ? nullptr : weights.data();
    return v;
  }

  const ht::BagProblem& host;
  hk::Buffer<float> table;
  hk::Buffer<int64_t> indices, offsets;
  hk::Buffer<float> weights;
};

struct Shape {
  int64_t num_rows;
  int64_t dim;
  std::vector<int64_t> lengths;
};

// Every row-tile width (4..32 lanes, one or several chunks), float4 and
// scalar rows, empty and long bags, heavy duplication.
std::vector<Shape> shapes() {
  return {
      {1, 1, {1}},
      {5, 3, {0, 2, 0, 1, 0}},
      {7, 4, {3, 3, 3}},
      {50, 33, {4, 0, 17, 2}},
      {1000, 64, ht::repeat_lengths({20}, 37)},
      {100, 100, ht::repeat_lengths({1, 7}, 9)},
      {64, 130, ht::repeat_lengths({0, 1, 5, 50}, 11)},
      {3, 128, ht::repeat_lengths({40, 75}, 6)},
      {200, 520, ht::repeat_lengths({3}, 5)},
      {100000, 128, ht::repeat_lengths({20}, 4096)},
  };
}

template <typename Fn>
void expect_error(Fn&& what, const std::vector<std::string>& parts) {
  try {
    what();
    ADD_FAILURE() << "no hybrec::Error thrown";
  } catch (const hybrec::Error& e) {
    for (const auto& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "message \"" << e.what() << "\" lacks \"" << part << "\"";
    }
  }
}

}  // namespace

TEST(EmbeddingGpu, GatherEqualsCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const auto gpu = hk::Device::cuda();
  for (int64_t dim : {1, 3, 4, 64, 128, 130, 1000}) {
    const int64_t rows = 500, n = 3000;
    const auto table = ht::random_floats(rows * dim, 1);
    const auto indices = ht::random_ints<int64_t>(n, 2, 0, rows);
    std::vector<float> want(n * dim);
    hk::embedding_gather(kCpu, table.data(), rows, dim, indices.data(), n, want.data());
    hk::Buffer<float> d_table(gpu, table), d_out(gpu, n * dim);
    hk::Buffer<int64_t> d_indices(gpu, indices);
    hk::embedding_gather(gpu, d_table.data(), rows, dim, d_indices.data(), n, d_out.data());
    EXPECT_TRUE(ht::all_close(d_out.download(), want, 0.0, 0.0)) << "dim " << dim;
  }
}

TEST(EmbeddingGpu, ForwardEqualsCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const auto gpu = hk::Device::cuda();
  std::uint64_t seed = 10;
  for (const auto& s : shapes()) {
    for (auto pooling : {hk::Pooling::kSum, hk::Pooling::kMean}) {
      for (bool weighted : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "rows=" << s.num_rows << " dim=" << s.dim << " bags=" << s.lengths.size()
                     << " " << hk::pooling_name(pooling) << (weighted ? " weighted" : ""));
        const auto p =
            ht::make_bag_problem(s.num_rows, s.dim, s.lengths, weighted, pooling, seed++);
        std::vector<float> want(p.count * p.dim);
        hk::embedding_bag_forward(kCpu, p.table.data(), p.num_rows, p.dim, p.bags(), want.data());
        DeviceProblem d(p, gpu);
        hk::Buffer<float> out(gpu, want.size());
        hk::embedding_bag_forward(gpu, d.table.data(), p.num_rows, p.dim, d.bags(), out.data());
        EXPECT_TRUE(ht::all_close(out.download(), want, kAtol, kRtol));
      }
    }
  }
}

TEST(EmbeddingGpu, ForwardOfMisalignedTableUsesScalarRows) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const auto gpu = hk::Device::cuda();
  const auto p =
      ht::make_bag_problem(40, 64, ht::repeat_lengths({3, 0, 9}, 10), true, hk::Pooling::kMean, 77);
  std::vector<float> want(p.count * p.dim);
  hk::embedding_bag_forward(kCpu, p.table.data(), p.num_rows, p.dim, p.bags(), want.data());
  // The table starts one float into its buffer: not 16-byte aligned.
  std::vector<float> shifted(1, 0.0f);
  shifted.insert(shifted.end(), p.table.begin(), p.table.end());
  DeviceProblem d(p, gpu);
  hk::Buffer<float> table(gpu, shifted), out(gpu, want.size());
  hk::embedding_bag_forward(gpu, table.data() + 1, p.num_rows, p.dim, d.bags(), out.data());
  EXPECT_TRUE(ht::all_close(out.download(), want, kAtol, kRtol));
}

TEST(EmbeddingGpu, NullOffsetsEqualsCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const auto gpu = hk::Device::cuda();
  auto p = ht::make_bag_problem(300, 64, ht::repeat_lengths({1}, 500), true, hk::Pooling::kMean, 5);
  p.offsets.clear();
  std::vector<float> want(p.count * p.dim);
  hk::embedding_bag_forward(kCpu, p.table.data(), p.num_rows, p.dim, p.bags(), want.data());
  DeviceProblem d(p, gpu);
  hk::Buffer<float> out(gpu, want.size());
  hk::embedding_bag_forward(gpu, d.table.data(), p.num_rows, p.dim, d.bags(), out.data());
  EXPECT_TRUE(ht::all_close(out.download(), want, kAtol, kRtol));
}

// The CUDA backward's unique ids and summed gradients equal the CPU's.
void expect_backward_matches_cpu(const ht::BagProblem& p, const std::vector<float>& grad_out,
                                 const hk::Device& gpu) {
  const int64_t n = p.num_indices();
  std::vector<int64_t> want_ids(n);
  std::vector<float> want_grads(n * p.dim);
  const int64_t want_k = hk::embedding_bag_backward(kCpu, p.bags(), grad_out.data(), p.num_rows,
                                                    p.dim, want_ids.data(), want_grads.data());
  want_ids.resize(want_k);
  want_grads.resize(want_k * p.dim);

  DeviceProblem d(p, gpu);
  hk::Buffer<float> d_grad_out(gpu, grad_out), d_grads(gpu, n * p.dim);
  hk::Buffer<int64_t> d_ids(gpu, n);
  const int64_t k = hk::embedding_bag_backward(gpu, d.bags(), d_grad_out.data(), p.num_rows, p.dim,
                                               d_ids.data(), d_grads.data());
  ASSERT_EQ(k, want_k);
  auto ids = d_ids.download();
  auto grads = d_grads.download();
  ids.resize(k);
  grads.resize(k * p.dim);
  EXPECT_EQ(ids, want_ids);
  EXPECT_TRUE(ht::all_close(grads, want_grads, kAtol, kRtol));
}

TEST(EmbeddingGpu, BackwardEqualsCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const auto gpu = hk::Device::cuda();
  std::uint64_t seed = 200;
  for (const auto& s : shapes()) {
    for (auto pooling : {hk::Pooling::kSum, hk::Pooling::kMean}) {
      for (bool weighted : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "rows=" << s.num_rows << " dim=" << s.dim << " "
                     << hk::pooling_name(pooling) << (weighted ? " weighted" : ""));
        const auto p = ht::make_bag_problem(s.num_rows, s.dim, s.lengths, weighted, pooling, seed);
        const auto grad_out = ht::random_floats(p.count * p.dim, seed + 1);
        seed += 10;
        if (p.num_indices() == 0) continue;
        expect_backward_matches_cpu(p, grad_out, gpu);
      }
    }
  }
}

TEST(EmbeddingGpu, BackwardWithIdsAbove32BitsEqualsCpu) {
  // Tables over 2^32 rows sort 64-bit keys; the backward never touches the table.
  HYBREC_REQUIRE_CUDA_DEVICE();
  const auto gpu = hk::Device::cuda();
  for (bool weighted : {false, true}) {
    ht::BagProblem p;
    p.num_rows = int64_t{1} << 40;
    p.dim = 8;
    p.indices = ht::random_ints<int64_t>(20000, 31, 0, 500);
    for (auto& i : p.indices) i = i * (int64_t{1} << 31) + (i % 3);
    p.offsets.push_back(0);
    for (int64_t b = 0; p.offsets.back() < p.num_indices(); ++b) {
      p.offsets.push_back(std::min<int64_t>(p.num_indices(), p.offsets.back() + b % 9));
    }
    p.count = static_cast<int64_t>(p.offsets.size()) - 1;
    if (weighted) p.weights = ht::random_floats(p.indices.size(), 32);
    p.pooling = hk::Pooling::kMean;
    const auto grad_out = ht::random_floats(p.count * p.dim, 33);
    expect_backward_matches_cpu(p, grad_out, gpu);
  }
}

TEST(EmbeddingGpu, RowwiseAdagradAndAdamEqualCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const auto gpu = hk::Device::cuda();
  for (int64_t dim : {1, 6, 64, 128, 200, 520}) {
    SCOPED_TRACE(::testing::Message() << "dim " << dim);
    const int64_t rows = 3000, k = 1000;
    // Distinct ids in scrambled order.
    std::vector<int64_t> ids(k);
    for (int64_t i = 0; i < k; ++i) ids[i] = (i * 7919) % rows;
    const auto grads = ht::random_floats(k * dim, dim + 1);
    const auto table0 = ht::random_floats(rows * dim, dim + 2);
    const auto state0 = ht::random_floats(rows, dim + 3, 0.0f, 1.0f);
    hk::Buffer<int64_t> d_ids(gpu, ids);
    hk::Buffer<float> d_grads(gpu, grads);

    hk::RowwiseAdagradParams ap;
    ap.learning_rate = 0.1f;
    auto table = table0;
    auto state = state0;
    hk::rowwise_adagrad_update(kCpu, table.data(), state.data(), rows, dim, ids.data(),
                               grads.data(), k, ap);
    hk::Buffer<float> d_table(gpu, table0), d_state(gpu, state0);
    hk::rowwise_adagrad_update(gpu, d_table.data(), d_state.data(), rows, dim, d_ids.data(),
                               d_grads.data(), k, ap);
    EXPECT_TRUE(ht::all_close(d_table.download(), table, kUpdateAtol, kUpdateRtol));
    EXPECT_TRUE(ht::all_close(d_state.download(), state, kUpdateAtol, kUpdateRtol));

    hk::AdamParams adam;
    adam.learning_rate = 0.01f;
    adam.weight_decay = 0.01f;
    adam.step = 3;
    table = table0;
    std::vector<float> m = ht::random_floats(rows * dim, dim + 4, -0.1f, 0.1f);
    std::vector<float> v = ht::random_floats(rows * dim, dim + 5, 0.0f, 0.1f);
    hk::Buffer<float> d_table2(gpu, table0), d_m(gpu, m), d_v(gpu, v);
    hk::adam_update(kCpu, table.data(), m.data(), v.data(), rows, dim, ids.data(), grads.data(), k,
                    adam);
    hk::adam_update(gpu, d_table2.data(), d_m.data(), d_v.data(), rows, dim, d_ids.data(),
                    d_grads.data(), k, adam);
    EXPECT_TRUE(ht::all_close(d_table2.download(), table, kUpdateAtol, kUpdateRtol));
    EXPECT_TRUE(ht::all_close(d_m.download(), m, kUpdateAtol, kUpdateRtol));
    EXPECT_TRUE(ht::all_close(d_v.download(), v, kUpdateAtol, kUpdateRtol));
  }
}

TEST(EmbeddingGpu, BackwardAdagradEqualsCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const auto gpu = hk::Device::cuda();
  std::uint64_t seed = 400;
  for (const auto& s : shapes()) {
    for (bool weighted : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << "rows=" << s.num_rows << " dim=" << s.dim << (weighted ? " weighted" : ""));
      const auto p = ht::make_bag_problem(s.num_rows, s.dim, s.lengths, weighted,
                                          weighted ? hk::Pooling::kSum : hk::Pooling::kMean, seed);
      const auto grad_out = ht::random_floats(p.count * p.dim, seed + 1);
      const auto state0 = ht::random_floats(p.num_rows, seed + 2, 0.0f, 1.0f);
      seed += 10;
      hk::RowwiseAdagradParams params;
      params.learning_rate = 0.05f;
      auto table = p.table;
      auto state = state0;
      hk::embedding_bag_backward_adagrad(kCpu, p.bags(), grad_out.data(), table.data(),
                                         state.data(), p.num_rows, p.dim, params);
      DeviceProblem d(p, gpu);
      hk::Buffer<float> d_grad_out(gpu, grad_out), d_state(gpu, state0);
      hk::embedding_bag_backward_adagrad(gpu, d.bags(), d_grad_out.data(), d.table.data(),
                                         d_state.data(), p.num_rows, p.dim, params);
      EXPECT_TRUE(ht::all_close(d.table.download(), table, kUpdateAtol, kUpdateRtol));
      EXPECT_TRUE(ht::all_close(d_state.download(), state, kUpdateAtol, kUpdateRtol));
    }
  }
}

TEST(EmbeddingGpu, BadIndexIsReportedWithItsPosition) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const auto gpu = hk::Device::cuda();
  auto p =
      ht::make_bag_problem(90000, 4, ht::repeat_lengths({5}, 2000), false, hk::Pooling::kSum, 3);
  p.indices[17] = 90211;
  p.indices[9000] = -5;  // a later bad index must not be the one reported
  DeviceProblem d(p, gpu);
  hk::Buffer<float> out(gpu, p.count * p.dim);
  expect_error(
      [&] {
        hk::embedding_bag_forward(gpu, d.table.data(), p.num_rows, p.dim, d.bags(), out.data());
      },
      {"embedding_bag_forward", "index 90211 out of range [0, 90000) at position 17"});
  hk::Buffer<int64_t> ids(gpu, p.indices.size());
  hk::Buffer<float> grads(gpu, p.indices.size() * p.dim);
  expect_error(
      [&] {
        hk::embedding_bag_backward(gpu, d.bags(), out.data(), p.num_rows, p.dim, ids.data(),
                                   grads.data());
      },
      {"embedding_bag_backward", "position 17"});
}

TEST(EmbeddingGpu, MalformedOffsetsAreReported) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const auto gpu = hk::Device::cuda();
  auto p = ht::make_bag_problem(10, 2, {2, 3, 1}, false, hk::Pooling::kSum, 4);
  p.offsets = {0, 4, 3, 6};
  DeviceProblem d(p, gpu);
  hk::Buffer<float> out(gpu, p.count * p.dim);
  expect_error(
      [&] {
        hk::embedding_bag_forward(gpu, d.table.data(), p.num_rows, p.dim, d.bags(), out.data());
      },
      {"offsets[2] = 3 < offsets[1] = 4"});
}

TEST(EmbeddingGpu, BadRowIdInUpdateIsReported) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const auto gpu = hk::Device::cuda();
  hk::Buffer<float> table(gpu, 8), state(gpu, 4), grads(gpu, 4);
  hk::Buffer<int64_t> ids(gpu, std::vector<int64_t>{0, 7});
  expect_error(
      [&] {
        hk::rowwise_adagrad_update(gpu, table.data(), state.data(), 4, 2, ids.data(), grads.data(),
                                   2, {});
      },
      {"row id 7 out of range [0, 4) at position 1"});
}
