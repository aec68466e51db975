// The transformer block on the CPU backend against a naive double-precision
// forward of the same post-norm layer (block_testing.h), over packed batches
// of mixed lengths including length 1, with and without the causal mask; its
// backward against central finite differences of that reference in double,
// on every parameter and every input value; and the contract's details:
// accumulated parameter gradients, overwritten dx (which may alias dy),
// inference equal to the training forward bit for bit, buffers that grow.
#include "trainer/nn/transformer_block.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "block_testing.h"
#include "hybrec/kernels/error.h"

namespace hybrec::nn {
namespace {

namespace k = hybrec::kernels;
using testing::FlatLayout;
using testing::Packing;

// A small shape (2 heads of 4) so the finite differences stay cheap.
BlockShape small_shape(bool causal) {
  BlockShape s;
  s.dim = 8;
  s.heads = 2;
  s.hidden = 16;
  s.eps = 1e-5f;
  s.causal = causal;
  return s;
}

// Lengths in packed order: runs of equal length are groups (2 | 1 | 3 3 | 4).
const std::vector<int64_t> kMixedLengths = {2, 1, 3, 3, 4};

struct BlockRun {
  BlockShape shape;
  Packing packing;
  std::vector<float> params, x;
  explicit BlockRun(BlockShape s, std::vector<int64_t> lengths = kMixedLengths, uint64_t seed = 5)
      : shape(s),
        packing(std::move(lengths)),
        params(testing::random_block(s, seed)),
        x(testing::random_values(seed + 1, packing.rows * s.dim, 1.0f)) {}
  BlockWeights weights() const { return FlatLayout(shape).tensors(params.data()); }

  std::vector<float> forward(BlockActivations* acts) const {
    block_forward(k::Device::cpu(), shape, weights(), packing.packed(), x.data(), acts);
    const int64_t n = packing.rows * shape.dim;
    return std::vector<float>(acts->out.data(), acts->out.data() + n);
  }
};

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double atol,
                  double rtol, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], atol + rtol * std::fabs(want[i])) << what << " value " << i;
  }
}

class BlockBothMasks : public ::testing::TestWithParam<bool> {};

TEST_P(BlockBothMasks, ForwardMatchesTheDoubleReferenceOverMixedLengths) {
  const BlockRun run(small_shape(GetParam()));
  BlockActivations acts;
  const std::vector<float> y = run.forward(&acts);
  const auto want = testing::reference_block(run.shape, testing::to_double(run.params),
                                             run.packing.lengths, testing::to_double(run.x));
  expect_close(y, want, 1e-5, 1e-4, "y");
}

// Loss = sum(y * r) for a fixed random r, so dy = r. The gradient of every
// parameter and every input value is compared with central differences of
// the double reference (step 1e-4: truncation error ~1e-8, far below float).
TEST_P(BlockBothMasks, BackwardMatchesCentralFiniteDifferencesOnEveryValue) {
  const BlockRun run(small_shape(GetParam()));
  const BlockShape& s = run.shape;
  const FlatLayout layout(s);
  const int64_t n = run.packing.rows * s.dim;
  const std::vector<float> r = testing::random_values(99, n, 1.0f);

  BlockActivations acts;
  run.forward(&acts);
  std::vector<float> grad(static_cast<std::size_t>(layout.total), 0.0f), dx(n);
  BlockBackwardScratch scratch;
  block_backward(k::Device::cpu(), s, run.weights(), layout.tensors(grad.data()),
                 run.packing.packed(), run.x.data(), acts, r.data(), &scratch, dx.data());

  std::vector<double> p = testing::to_double(run.params), x = testing::to_double(run.x);
  auto loss = [&]() {
    const auto y = testing::reference_block(s, p, run.packing.lengths, x);
    double l = 0;
    for (int64_t i = 0; i < n; ++i) l += y[i] * r[i];
    return l;
  };
  const double h = 1e-4;
  auto central = [&](double* v) {
    const double keep = *v;
    *v = keep + h;
    const double up = loss();
    *v = keep - h;
    const double down = loss();
    *v = keep;
    return (up - down) / (2 * h);
  };
  for (int64_t i = 0; i < layout.total; ++i) {
    const double want = central(&p[i]);
    ASSERT_NEAR(grad[i], want, 2e-5 + 2e-4 * std::fabs(want)) << "parameter value " << i;
  }
  for (int64_t i = 0; i < n; ++i) {
    const double want = central(&x[i]);
    ASSERT_NEAR(dx[i], want, 2e-5 + 2e-4 * std::fabs(want)) << "input value " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Masks, BlockBothMasks, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Causal" : "Bidirectional";
                         });

// Changing a sequence's last input row: with the causal mask its earlier
// outputs stay bit for bit; without it they change; other sequences never do.
TEST(TransformerBlock, CausalOutputsIgnoreLaterPositions) {
  for (bool causal : {true, false}) {
    BlockRun run(small_shape(causal));
    BlockActivations acts;
    const std::vector<float> before = run.forward(&acts);
    const int64_t d = run.shape.dim;
    // Sequence 3 (length 3) holds rows 6, 7, 8 (after 2 + 1 + 3); perturb row 8.
    for (int64_t j = 0; j < d; ++j) run.x[8 * d + j] += 0.5f;
    const std::vector<float> after = run.forward(&acts);
    for (int64_t row = 0; row < run.packing.rows; ++row) {
      bool same = true;
      for (int64_t j = 0; j < d; ++j) same = same && before[row * d + j] == after[row * d + j];
      const bool expect_same = row < 6 || row > 8 || (causal && row < 8);
      EXPECT_EQ(same, expect_same) << (causal ? "causal" : "bidirectional") << " row " << row;
    }
  }
}

TEST(TransformerBlock, ParameterGradientsAccumulateAndDxIsOverwrittenEvenInPlace) {
  const BlockRun run(small_shape(false));
  const FlatLayout layout(run.shape);
  const int64_t n = run.packing.rows * run.shape.dim;
  const std::vector<float> r = testing::random_values(7, n, 1.0f);
  BlockActivations acts;
  run.forward(&acts);
  BlockBackwardScratch scratch;
  std::vector<float> once(static_cast<std::size_t>(layout.total), 0.0f), twice = once;
  std::vector<float> dx(n, std::numeric_limits<float>::quiet_NaN());
  block_backward(k::Device::cpu(), run.shape, run.weights(), layout.tensors(once.data()),
                 run.packing.packed(), run.x.data(), acts, r.data(), &scratch, dx.data());
  // Again into a gradient that already holds one backward, dx aliasing dy.
  twice = once;
  std::vector<float> in_place = r;
  block_backward(k::Device::cpu(), run.shape, run.weights(), layout.tensors(twice.data()),
                 run.packing.packed(), run.x.data(), acts, in_place.data(), &scratch,
                 in_place.data());
  for (std::size_t i = 0; i < once.size(); ++i) {
    ASSERT_NEAR(twice[i], 2.0f * once[i], 1e-6f + 1e-5f * std::fabs(once[i])) << "value " << i;
  }
  EXPECT_EQ(in_place, dx);
}

TEST(TransformerBlock, InferenceEqualsTheTrainingForwardBitForBitAndRunsInPlace) {
  for (bool causal : {false, true}) {
    const BlockRun run(small_shape(causal));
    BlockActivations acts;
    const std::vector<float> trained = run.forward(&acts);
    BlockInferenceScratch scratch;
    std::vector<float> y(trained.size()), in_place = run.x;
    block_inference(k::Device::cpu(), run.shape, run.weights(), run.packing.packed(), run.x.data(),
                    &scratch, y.data());
    EXPECT_EQ(y, trained);
    block_inference(k::Device::cpu(), run.shape, run.weights(), run.packing.packed(),
                    in_place.data(), &scratch, in_place.data());
    EXPECT_EQ(in_place, trained);
  }
}

// One activation struct serves a small batch, then a larger one (it grows),
// then the small one again, each giving what fresh buffers give.
TEST(TransformerBlock, BuffersGrowForALargerBatchAndServeSmallerOnes) {
  const BlockRun small(small_shape(true), {1, 2}), large(small_shape(true), {5, 5, 3, 1, 7});
  BlockActivations shared, fresh_small, fresh_large;
  EXPECT_EQ(small.forward(&shared), small.forward(&fresh_small));
  EXPECT_EQ(large.forward(&shared), large.forward(&fresh_large));
  EXPECT_EQ(shared.capacity, large.packing.rows);
  EXPECT_EQ(small.forward(&shared), small.forward(&fresh_small));
  EXPECT_EQ(shared.capacity, large.packing.rows);
}

TEST(TransformerBlock, EmptyBatchWritesNothing) {
  const BlockRun run(small_shape(false), {});
  BlockActivations acts;
  block_forward(k::Device::cpu(), run.shape, run.weights(), run.packing.packed(), nullptr, &acts);
  EXPECT_EQ(acts.capacity, 0);
}

TEST(TransformerBlock, RejectsGroupsThatDoNotTileTheRows) {
  const BlockRun run(small_shape(false));
  std::vector<LengthGroup> groups = run.packing.groups;
  groups[1].first_row += 1;
  const PackedRows bad{run.packing.rows, groups.data(), static_cast<int64_t>(groups.size())};
  BlockActivations acts;
  EXPECT_THROW(block_forward(k::Device::cpu(), run.shape, run.weights(), bad, run.x.data(), &acts),
               Error);
  BlockShape odd = run.shape;
  odd.heads = 3;
  EXPECT_THROW(block_forward(k::Device::cpu(), odd, run.weights(), run.packing.packed(),
                             run.x.data(), &acts),
               Error);
}

}  // namespace
}  // namespace hybrec::nn
