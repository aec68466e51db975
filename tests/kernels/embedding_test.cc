// CPU embedding ops against the naive double references, the backward
// against central finite differences, and the argument checks.
#include "hybrec/kernels/embedding.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "embedding_reference.h"
#include "testing.h"

namespace hk = hybrec::kernels;
namespace ht = hybrec::testing;

namespace {

constexpr double kAtol = 1e-5;
constexpr double kRtol = 1e-5;

const hk::Device kCpu = hk::Device::cpu();

std::vector<float> run_forward(const ht::BagProblem& p) {
  std::vector<float> out(static_cast<std::size_t>(p.count * p.dim), -7.0f);
  hk::embedding_bag_forward(kCpu, p.table.data(), p.num_rows, p.dim, p.bags(), out.data());
  return out;
}

struct Sparse {
  std::vector<int64_t> ids;
  std::vector<float> grads;
};

Sparse run_backward(const ht::BagProblem& p, const std::vector<float>& grad_out) {
  Sparse s;
  s.ids.assign(p.indices.size(), -1);
  s.grads.assign(p.indices.size() * p.dim, 0.0f);
  const int64_t k = hk::embedding_bag_backward(kCpu, p.bags(), grad_out.data(), p.num_rows, p.dim,
                                               s.ids.data(), s.grads.data());
  s.ids.resize(k);
  s.grads.resize(k * p.dim);
  return s;
}

// Expects `what` to throw hybrec::Error whose message contains every part.
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

struct Shape {
  int64_t num_rows;
  int64_t dim;
  std::vector<int64_t> lengths;
};

// Edges: empty bags (first, middle, last, all), length 1, long bags with
// duplicates (few rows), odd dims, dims not divisible by 4 or 8.
std::vector<Shape> shapes() {
  return {
      {1, 1, {1}},
      {5, 3, {0, 2, 0, 1, 0}},
      {7, 4, {3, 3, 3}},
      {3, 5, {9, 1, 12}},
      {100, 8, {1, 1, 1, 1, 1, 1, 1}},
      {50, 33, {4, 0, 17, 2}},
      {1000, 64, ht::repeat_lengths({20}, 37)},
      {64, 130, ht::repeat_lengths({0, 1, 5, 50}, 11)},
      {10, 16, {0, 0, 0}},
  };
}

}  // namespace

TEST(EmbeddingGather, CopiesRowsIncludingDuplicates) {
  for (int64_t dim : {1, 3, 64, 130}) {
    const int64_t rows = 20;
    const auto table = ht::random_floats(rows * dim, 3);
    const auto indices = ht::random_ints<int64_t>(45, 4, 0, rows);
    std::vector<float> out(indices.size() * dim);
    hk::embedding_gather(kCpu, table.data(), rows, dim, indices.data(),
                         static_cast<int64_t>(indices.size()), out.data());
    for (std::size_t i = 0; i < indices.size(); ++i) {
      for (int64_t j = 0; j < dim; ++j) {
        ASSERT_EQ(out[i * dim + j], table[indices[i] * dim + j]) << "i=" << i << " j=" << j;
      }
    }
  }
}

TEST(EmbeddingBag, ForwardMatchesNaiveReference) {
  std::uint64_t seed = 100;
  for (const auto& s : shapes()) {
    for (auto pooling : {hk::Pooling::kSum, hk::Pooling::kMean}) {
      for (bool weighted : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "rows=" << s.num_rows << " dim=" << s.dim << " bags=" << s.lengths.size()
                     << " " << hk::pooling_name(pooling) << (weighted ? " weighted" : ""));
        const auto p =
            ht::make_bag_problem(s.num_rows, s.dim, s.lengths, weighted, pooling, seed++);
        EXPECT_TRUE(ht::all_close(run_forward(p), ht::reference_forward(p, ht::to_double(p.table)),
                                  kAtol, kRtol));
      }
    }
  }
}

TEST(EmbeddingBag, MeanOfEmptyBagIsZero) {
  for (bool weighted : {false, true}) {
    const auto p = ht::make_bag_problem(10, 6, {2, 0, 3}, weighted, hk::Pooling::kMean, 7);
    const auto out = run_forward(p);
    for (int64_t j = 0; j < 6; ++j) EXPECT_EQ(out[6 + j], 0.0f) << "j=" << j;
  }
}

TEST(EmbeddingBag, WeightedMeanDividesByCountNotByWeightSum) {
  ht::BagProblem p;
  p.num_rows = 2;
  p.dim = 1;
  p.table = {1.0f, 3.0f};
  p.indices = {0, 1};
  p.offsets = {0, 2};
  p.weights = {2.0f, 4.0f};
  p.count = 1;
  p.pooling = hk::Pooling::kMean;
  EXPECT_FLOAT_EQ(run_forward(p)[0], (2.0f * 1.0f + 4.0f * 3.0f) / 2.0f);
}

TEST(EmbeddingBag, NullOffsetsMeansOneIndexPerBag) {
  auto p = ht::make_bag_problem(30, 9, ht::repeat_lengths({1}, 12), true, hk::Pooling::kSum, 21);
  const auto with_offsets = run_forward(p);
  p.offsets.clear();
  EXPECT_EQ(run_forward(p), with_offsets);
  p.pooling = hk::Pooling::kMean;  // a bag of one: the mean is the weighted row
  EXPECT_EQ(run_forward(p), with_offsets);
}

TEST(EmbeddingBag, BackwardMatchesFiniteDifferences) {
  std::uint64_t seed = 300;
  for (auto pooling : {hk::Pooling::kSum, hk::Pooling::kMean}) {
    for (bool weighted : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << hk::pooling_name(pooling) << (weighted ? " weighted" : ""));
      // Few rows so that bags share rows and some rows are never used.
      const auto p = ht::make_bag_problem(9, 3, {3, 0, 1, 6, 2}, weighted, pooling, seed);
      const auto r = ht::random_floats(p.count * p.dim, seed + 10);
      seed += 100;
      auto loss = [&](const std::vector<double>& table) {
        const auto out = ht::reference_forward(p, table);
        double l = 0.0;
        for (std::size_t i = 0; i < out.size(); ++i) l += out[i] * r[i];
        return l;
      };
      const auto numeric = ht::numeric_gradient(loss, ht::to_double(p.table));

      const Sparse s = run_backward(p, r);
      ASSERT_TRUE(std::is_sorted(s.ids.begin(), s.ids.end()));
      ASSERT_EQ(std::adjacent_find(s.ids.begin(), s.ids.end()), s.ids.end()) << "repeated id";
      std::vector<double> dense(p.table.size(), 0.0);
      for (std::size_t k = 0; k < s.ids.size(); ++k) {
        for (int64_t j = 0; j < p.dim; ++j) dense[s.ids[k] * p.dim + j] = s.grads[k * p.dim + j];
      }
      EXPECT_TRUE(ht::all_close(dense, numeric, 1e-6, 1e-5));
      // Exactly the rows that occur come out, and no others.
      std::vector<int64_t> used = p.indices;
      std::sort(used.begin(), used.end());
      used.erase(std::unique(used.begin(), used.end()), used.end());
      EXPECT_EQ(s.ids, used);
    }
  }
}

TEST(EmbeddingBag, BackwardMatchesNaiveSegmentSum) {
  std::uint64_t seed = 500;
  for (const auto& s : shapes()) {
    for (auto pooling : {hk::Pooling::kSum, hk::Pooling::kMean}) {
      for (bool weighted : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "rows=" << s.num_rows << " dim=" << s.dim << " "
                     << hk::pooling_name(pooling) << (weighted ? " weighted" : ""));
        const auto p = ht::make_bag_problem(s.num_rows, s.dim, s.lengths, weighted, pooling, seed);
        const auto grad_out = ht::random_floats(p.count * p.dim, seed + 1);
        seed += 10;
        const Sparse got = run_backward(p, grad_out);
        const auto expected = ht::reference_backward(p, grad_out);
        ASSERT_EQ(got.ids.size(), expected.size());
        std::vector<double> want;
        std::size_t k = 0;
        for (const auto& [id, g] : expected) {
          ASSERT_EQ(got.ids[k++], id);
          want.insert(want.end(), g.begin(), g.end());
        }
        EXPECT_TRUE(ht::all_close(got.grads, want, kAtol, kRtol));
      }
    }
  }
}

TEST(EmbeddingBag, BackwardOfOneRepeatedRowIsOneSummedRow) {
  ht::BagProblem p =
      ht::make_bag_problem(1 << 20, 4, ht::repeat_lengths({3}, 2000), false, hk::Pooling::kSum, 41);
  std::fill(p.indices.begin(), p.indices.end(), 123456);
  const std::vector<float> grad_out(p.count * p.dim, 0.5f);
  const Sparse s = run_backward(p, grad_out);
  ASSERT_EQ(s.ids, std::vector<int64_t>{123456});
  for (float g : s.grads) EXPECT_EQ(g, 3000.0f);
}

TEST(EmbeddingBag, BackwardHandlesLargeTablesAndManyIndices) {
  // Parallel sort path (many indices) and ids above 2^31 (several radix passes).
  const int64_t rows = int64_t{1} << 40;
  ht::BagProblem p;
  p.num_rows = rows;
  p.dim = 2;
  p.indices = ht::random_ints<int64_t>(70000, 5, 0, 300);
  for (auto& i : p.indices) i = i * (int64_t{1} << 31) + (i % 7);
  p.count = static_cast<int64_t>(p.indices.size());
  const auto grad_out = ht::random_floats(p.count * p.dim, 6);
  const Sparse got = run_backward(p, grad_out);
  const auto expected = ht::reference_backward(p, grad_out);
  ASSERT_EQ(got.ids.size(), expected.size());
  std::vector<double> want;
  std::size_t k = 0;
  for (const auto& [id, g] : expected) {
    ASSERT_EQ(got.ids[k++], id);
    want.insert(want.end(), g.begin(), g.end());
  }
  EXPECT_TRUE(ht::all_close(got.grads, want, 1e-4, kRtol));
}

TEST(RowwiseAdagrad, MatchesFormulaInDoubleAndLeavesOtherRowsAlone) {
  for (int64_t dim : {1, 7, 64, 130}) {
    const int64_t rows = 12;
    auto table = ht::random_floats(rows * dim, 60);
    auto state = ht::random_floats(rows, 61, 0.0f, 2.0f);
    const std::vector<int64_t> ids = {9, 2, 5};
    const auto grads = ht::random_floats(ids.size() * dim, 62);
    hk::RowwiseAdagradParams params;
    params.learning_rate = 0.1f;
    params.eps = 1e-6f;

    auto want_table = ht::to_double(table);
    auto want_state = ht::to_double(state);
    for (std::size_t k = 0; k < ids.size(); ++k) {
      std::vector<double> w(want_table.begin() + ids[k] * dim,
                            want_table.begin() + (ids[k] + 1) * dim);
      std::vector<double> g(grads.begin() + k * dim, grads.begin() + (k + 1) * dim);
      ht::reference_adagrad_row(w, want_state[ids[k]], g, params.learning_rate, params.eps);
      std::copy(w.begin(), w.end(), want_table.begin() + ids[k] * dim);
    }
    hk::rowwise_adagrad_update(kCpu, table.data(), state.data(), rows, dim, ids.data(),
                               grads.data(), static_cast<int64_t>(ids.size()), params);
    EXPECT_TRUE(ht::all_close(table, want_table, 1e-6, 1e-5)) << "dim " << dim;
    EXPECT_TRUE(ht::all_close(state, want_state, 1e-6, 1e-5)) << "dim " << dim;
  }
}

TEST(RowwiseAdagrad, StateIsRunningSumOfMeanSquaredGradient) {
  float w[4] = {0, 0, 0, 0}, state = 0.0f;
  const float g[4] = {1.0f, -1.0f, 3.0f, 1.0f};
  hk::RowwiseAdagradParams params;
  params.learning_rate = 1.0f;
  params.eps = 0.0f + 1e-30f;
  hk::rowwise_adagrad_row(w, &state, g, 4, params);
  EXPECT_FLOAT_EQ(state, 3.0f);  // (1 + 1 + 9 + 1) / 4
  EXPECT_FLOAT_EQ(w[2], -3.0f / std::sqrt(3.0f));
  hk::rowwise_adagrad_row(w, &state, g, 4, params);
  EXPECT_FLOAT_EQ(state, 6.0f);
}

TEST(Adam, MatchesFormulaInDoubleOverSeveralSteps) {
  const int64_t rows = 10, dim = 13;
  auto table = ht::random_floats(rows * dim, 70);
  std::vector<float> m(rows * dim, 0.0f), v(rows * dim, 0.0f);
  auto want_w = ht::to_double(table);
  std::vector<double> want_m(m.size(), 0.0), want_v(v.size(), 0.0);
  const std::vector<int64_t> ids = {3, 0, 7, 8};
  hk::AdamParams params;
  params.learning_rate = 0.01f;
  params.weight_decay = 0.1f;
  for (int64_t step = 1; step <= 4; ++step) {
    params.step = step;
    const auto grads = ht::random_floats(ids.size() * dim, 71 + step);
    hk::adam_update(kCpu, table.data(), m.data(), v.data(), rows, dim, ids.data(), grads.data(),
                    static_cast<int64_t>(ids.size()), params);
    for (std::size_t k = 0; k < ids.size(); ++k) {
      for (int64_t j = 0; j < dim; ++j) {
        const int64_t e = ids[k] * dim + j;
        ht::reference_adam(want_w[e], want_m[e], want_v[e], grads[k * dim + j], params);
      }
    }
  }
  EXPECT_TRUE(ht::all_close(table, want_w, 1e-6, 1e-5));
  EXPECT_TRUE(ht::all_close(m, want_m, 1e-6, 1e-5));
  EXPECT_TRUE(ht::all_close(v, want_v, 1e-6, 1e-5));
}

TEST(Adam, FirstStepMovesEachWeightByTheLearningRate) {
  // Bias correction at step 1 makes m_hat / sqrt(v_hat) = sign(g).
  std::vector<float> w = {1.0f, 1.0f, 1.0f}, m(3, 0.0f), v(3, 0.0f);
  const std::vector<float> g = {0.001f, -5.0f, 20.0f};
  const int64_t id = 0;
  hk::AdamParams params;
  params.learning_rate = 0.5f;
  hk::adam_update(kCpu, w.data(), m.data(), v.data(), 1, 3, &id, g.data(), 1, params);
  EXPECT_NEAR(w[0], 0.5f, 1e-4);
  EXPECT_NEAR(w[1], 1.5f, 1e-4);
  EXPECT_NEAR(w[2], 0.5f, 1e-4);
}

TEST(BackwardAdagrad, EqualsBackwardThenRowwiseAdagrad) {
  std::uint64_t seed = 800;
  for (int64_t dim : {5, 64, 128}) {
    for (bool weighted : {false, true}) {
      const auto p = ht::make_bag_problem(300, dim, ht::repeat_lengths({0, 20, 3, 1}, 40), weighted,
                                          hk::Pooling::kMean, seed++);
      const auto grad_out = ht::random_floats(p.count * dim, seed++);
      const auto state0 = ht::random_floats(p.num_rows, seed++, 0.0f, 1.0f);
      hk::RowwiseAdagradParams params;
      params.learning_rate = 0.05f;

      auto fused_table = p.table;
      auto fused_state = state0;
      hk::embedding_bag_backward_adagrad(kCpu, p.bags(), grad_out.data(), fused_table.data(),
                                         fused_state.data(), p.num_rows, dim, params);

      auto table = p.table;
      auto state = state0;
      const Sparse s = run_backward(p, grad_out);
      hk::rowwise_adagrad_update(kCpu, table.data(), state.data(), p.num_rows, dim, s.ids.data(),
                                 s.grads.data(), static_cast<int64_t>(s.ids.size()), params);
      EXPECT_EQ(fused_table, table) << "dim " << dim;
      EXPECT_EQ(fused_state, state) << "dim " << dim;
    }
  }
}

TEST(EmbeddingBag, IndexOutOfRangeNamesValueRangeAndPosition) {
  auto p = ht::make_bag_problem(90000, 2, ht::repeat_lengths({5}, 5), false, hk::Pooling::kSum, 9);
  p.indices[17] = 90211;
  std::vector<float> out(p.count * p.dim);
  expect_error(
      [&] {
        hk::embedding_bag_forward(kCpu, p.table.data(), p.num_rows, p.dim, p.bags(), out.data());
      },
      {"embedding_bag_forward", "index 90211 out of range [0, 90000) at position 17"});
  std::vector<int64_t> ids(p.indices.size());
  std::vector<float> grads(p.indices.size() * p.dim);
  expect_error(
      [&] {
        hk::embedding_bag_backward(kCpu, p.bags(), out.data(), p.num_rows, p.dim, ids.data(),
                                   grads.data());
      },
      {"embedding_bag_backward", "index 90211", "position 17"});
  p.indices[17] = -1;
  expect_error(
      [&] {
        hk::embedding_gather(kCpu, p.table.data(), p.num_rows, p.dim, p.indices.data(),
                             p.num_indices(), out.data());
      },
      {"embedding_gather", "index -1 out of range [0, 90000) at position 17"});
}

TEST(EmbeddingBag, MalformedOffsetsAreRejected) {
  auto p = ht::make_bag_problem(10, 2, {2, 3, 1}, false, hk::Pooling::kSum, 10);
  std::vector<float> out(p.count * p.dim);
  auto forward = [&] {
    hk::embedding_bag_forward(kCpu, p.table.data(), p.num_rows, p.dim, p.bags(), out.data());
  };
  p.offsets = {1, 2, 5, 6};
  expect_error(forward, {"offsets[0] = 1, must be 0"});
  p.offsets = {0, 4, 3, 6};
  expect_error(forward, {"offsets[2] = 3 < offsets[1] = 4"});
  p.offsets = {0, 2, 5, 5};
  expect_error(forward, {"offsets[3] = 5 must equal num_indices = 6"});
  p.offsets.clear();  // one index per bag needs count == num_indices
  expect_error(forward, {"count (3) must equal num_indices (6)"});
}

TEST(RowwiseAdagrad, BadRowIdAndParamsAreRejected) {
  std::vector<float> table(8), state(4), grads(4);
  const int64_t bad = 4;
  hk::RowwiseAdagradParams params;
  expect_error(
      [&] {
        hk::rowwise_adagrad_update(kCpu, table.data(), state.data(), 4, 2, &bad, grads.data(), 1,
                                   params);
      },
      {"rowwise_adagrad_update", "row id 4 out of range [0, 4) at position 0"});
  const int64_t good = 1;
  params.eps = 0.0f;
  expect_error(
      [&] {
        hk::rowwise_adagrad_update(kCpu, table.data(), state.data(), 4, 2, &good, grads.data(), 1,
                                   params);
      },
      {"eps must be positive"});
}

TEST(Adam, StepZeroAndBadBetasAreRejected) {
  std::vector<float> w(4), m(4), v(4), g(2);
  const int64_t id = 1;
  hk::AdamParams params;
  params.step = 0;
  expect_error(
      [&] { hk::adam_update(kCpu, w.data(), m.data(), v.data(), 2, 2, &id, g.data(), 1, params); },
      {"step must be >= 1, got 0"});
  params.step = 1;
  params.beta2 = 1.0f;
  expect_error(
      [&] { hk::adam_update(kCpu, w.data(), m.data(), v.data(), 2, 2, &id, g.data(), 1, params); },
      {"beta2 must be in [0, 1), got 1"});
}

TEST(EmbeddingBag, BadShapesAndNullPointersAreRejected) {
  auto p = ht::make_bag_problem(10, 2, {2, 1}, false, hk::Pooling::kSum, 11);
  std::vector<float> out(p.count * p.dim);
  expect_error(
      [&] { hk::embedding_bag_forward(kCpu, p.table.data(), p.num_rows, 0, p.bags(), out.data()); },
      {"dim must be positive, got 0"});
  expect_error(
      [&] { hk::embedding_bag_forward(kCpu, p.table.data(), p.num_rows, 2, p.bags(), nullptr); },
      {"out is null"});
  auto bags = p.bags();
  bags.count = -3;
  expect_error(
      [&] { hk::embedding_bag_forward(kCpu, p.table.data(), p.num_rows, 2, bags, out.data()); },
      {"bag count must be >= 0, got -3"});
}

TEST(EmbeddingBag, EmptyInputsAreNoOps) {
  const hk::EmbeddingBags none;
  EXPECT_EQ(hk::embedding_bag_backward(kCpu, none, nullptr, 10, 4, nullptr, nullptr), 0);
  hk::embedding_bag_forward(kCpu, nullptr, 10, 4, none, nullptr);
  hk::embedding_bag_backward_adagrad(kCpu, none, nullptr, nullptr, nullptr, 10, 4, {});
  hk::embedding_gather(kCpu, nullptr, 10, 4, nullptr, 0, nullptr);
}

TEST(EmbeddingBag, SupportsStatesTheBackwardIndexLimit) {
  EXPECT_TRUE(
      hk::embedding_supports(hk::Backend::kCpu, hk::EmbeddingOp::kBagBackward, 64, 1 << 20));
  EXPECT_FALSE(hk::embedding_supports(hk::Backend::kCpu, hk::EmbeddingOp::kBagBackward, 64,
                                      hk::kMaxBackwardIndices + 1));
  EXPECT_TRUE(hk::embedding_supports(hk::Backend::kCuda, hk::EmbeddingOp::kBagForward, 64,
                                     hk::kMaxBackwardIndices + 1));
  EXPECT_FALSE(hk::embedding_supports(hk::Backend::kCpu, hk::EmbeddingOp::kGather, 0, 10));
}

TEST(EmbeddingBag, CudaWithoutCudaBuildIsAClearError) {
  if (hk::cuda_compiled()) GTEST_SKIP() << "built with CUDA";
  auto p = ht::make_bag_problem(10, 2, {2, 1}, false, hk::Pooling::kSum, 12);
  std::vector<float> out(p.count * p.dim);
  expect_error(
      [&] {
        hk::embedding_bag_forward(hk::Device::cuda(), p.table.data(), p.num_rows, 2, p.bags(),
                                  out.data());
      },
      {"CUDA"});
}
