// Server-side row updates against the kernels library's CPU updates (which
// the trainer uses) and against the formulas evaluated in double.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "hybrec/kernels/device.h"
#include "hybrec/kernels/embedding.h"
#include "kernels/testing.h"
#include "parameter_server/store/row_table.h"

namespace hybrec::ps {
namespace {

TableSpec spec_of(int dim, Optimizer optimizer) {
  TableSpec s;
  s.name = "t";
  s.dim = dim;
  s.optimizer = optimizer;
  s.learning_rate = 0.05;
  s.eps = 1e-6;
  s.beta1 = 0.8;
  s.beta2 = 0.95;
  s.weight_decay = 0.01;
  s.init_scale = 0.5;
  return s;
}

// Pulls the initial rows of keys, then pushes `steps` gradient batches; the
// kernels' update runs on a dense copy of those rows with the same batches.
struct Trial {
  int dim = 37;  // not a multiple of the 8-wide partial sums
  int steps = 5;
  std::vector<int64_t> keys = {3, 1000, -7, 42};
};

TEST(ServerOptimizer, RowwiseAdagradEqualsKernelsUpdateExactly) {
  Trial trial;
  const TableSpec spec = spec_of(trial.dim, Optimizer::kRowwiseAdagrad);
  RowTable table(spec);
  const int64_t n = static_cast<int64_t>(trial.keys.size()), dim = trial.dim;
  std::vector<float> dense(n * dim), state(n, 0.0f);
  table.pull(trial.keys.data(), n, dense.data());
  std::vector<int64_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = i;
  kernels::RowwiseAdagradParams params{static_cast<float>(spec.learning_rate),
                                       static_cast<float>(spec.eps)};
  for (int step = 0; step < trial.steps; ++step) {
    const auto grads = hybrec::testing::random_floats(n * dim, 100 + step);
    table.push(trial.keys.data(), n, grads.data());
    kernels::rowwise_adagrad_update(kernels::Device::cpu(), dense.data(), state.data(), n, dim,
                                    ids.data(), grads.data(), n, params);
  }
  std::vector<float> slot(dim + 1);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(table.find(trial.keys[i], slot.data()));
    for (int64_t j = 0; j < dim; ++j) ASSERT_EQ(slot[j], dense[i * dim + j]) << i << "," << j;
    ASSERT_EQ(slot[dim], state[i]);
  }
}

TEST(ServerOptimizer, RowwiseAdagradMatchesFormulaInDouble) {
  const int dim = 5;
  const TableSpec spec = spec_of(dim, Optimizer::kRowwiseAdagrad);
  RowTable table(spec);
  const int64_t key = 9;
  std::vector<float> row(dim);
  table.pull(&key, 1, row.data());
  std::vector<double> w(row.begin(), row.end());
  double s = 0;
  for (int step = 0; step < 4; ++step) {
    const auto g = hybrec::testing::random_floats(dim, 7 + step);
    table.push(&key, 1, g.data());
    double sum_sq = 0;
    for (float v : g) sum_sq += static_cast<double>(v) * v;
    s += sum_sq / dim;
    for (int j = 0; j < dim; ++j) w[j] -= spec.learning_rate * g[j] / (std::sqrt(s) + spec.eps);
  }
  std::vector<float> slot(dim + 1);
  ASSERT_TRUE(table.find(key, slot.data()));
  for (int j = 0; j < dim; ++j) EXPECT_NEAR(slot[j], w[j], 1e-5 + 1e-4 * std::fabs(w[j]));
  EXPECT_NEAR(slot[dim], s, 1e-5 * s);
}

TEST(ServerOptimizer, AdamUsesEachRowsOwnStepAndEqualsKernelsUpdate) {
  Trial trial;
  const TableSpec spec = spec_of(trial.dim, Optimizer::kAdam);
  RowTable table(spec);
  const int64_t n = static_cast<int64_t>(trial.keys.size()), dim = trial.dim;
  std::vector<float> dense(n * dim), m(n * dim, 0.0f), v(n * dim, 0.0f);
  table.pull(trial.keys.data(), n, dense.data());
  kernels::AdamParams params;
  params.learning_rate = static_cast<float>(spec.learning_rate);
  params.beta1 = static_cast<float>(spec.beta1);
  params.beta2 = static_cast<float>(spec.beta2);
  params.eps = static_cast<float>(spec.eps);
  params.weight_decay = static_cast<float>(spec.weight_decay);
  // Row 0 is pushed at every step, the others only at odd steps: each row's
  // bias correction follows its own update count.
  std::vector<int64_t> row_steps(n, 0);
  for (int step = 0; step < trial.steps; ++step) {
    const int64_t count = (step % 2 == 1) ? n : 1;
    const auto grads = hybrec::testing::random_floats(count * dim, 300 + step);
    table.push(trial.keys.data(), count, grads.data());
    for (int64_t i = 0; i < count; ++i) {
      params.step = ++row_steps[i];
      const int64_t id = i;
      kernels::adam_update(kernels::Device::cpu(), dense.data(), m.data(), v.data(), n, dim, &id,
                           grads.data() + i * dim, 1, params);
    }
  }
  std::vector<float> slot(3 * dim + 1);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(table.find(trial.keys[i], slot.data()));
    for (int64_t j = 0; j < dim; ++j) {
      ASSERT_EQ(slot[j], dense[i * dim + j]) << "row " << i << " element " << j;
      ASSERT_EQ(slot[dim + j], m[i * dim + j]);
      ASSERT_EQ(slot[2 * dim + j], v[i * dim + j]);
    }
    EXPECT_EQ(slot[3 * dim], static_cast<float>(row_steps[i]));
  }
}

TEST(ServerOptimizer, SgdMatchesFormula) {
  const int dim = 6;
  RowTable table(spec_of(dim, Optimizer::kSgd));
  const int64_t key = 1;
  std::vector<float> row(dim), after(dim);
  table.pull(&key, 1, row.data());
  const auto g = hybrec::testing::random_floats(dim, 5);
  table.push(&key, 1, g.data());
  table.pull(&key, 1, after.data());
  for (int j = 0; j < dim; ++j) EXPECT_FLOAT_EQ(after[j], row[j] - 0.05f * g[j]);
}

}  // namespace
}  // namespace hybrec::ps
