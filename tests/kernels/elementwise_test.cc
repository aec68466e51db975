// CPU elementwise and row ops: bit for bit against the plain sequential loops
// the header spells out (the loops a model had written by hand), against
// naive double references where they sum, every op with a backward against
// central finite differences (the backward built from these same ops), plus
// in-place calls, empty and edge shapes, thread-count independence and
// argument checks.
#include "hybrec/kernels/elementwise.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "elementwise_reference.h"
#include "testing.h"

namespace hk = hybrec::kernels;
using hybrec::testing::all_close;
using hybrec::testing::expect_error;
using hybrec::testing::numeric_gradient;
using hybrec::testing::random_floats;
using hybrec::testing::random_ints;
using hybrec::testing::same_bits;
using hybrec::testing::to_double;
using hybrec::testing::elementwise_ref::model_dot;
using hybrec::testing::elementwise_ref::model_inverse_norms;

namespace {

const hk::Device kCpu = hk::Device::cpu();
constexpr double kGradAtol = 1e-5, kGradRtol = 1e-5;

double dot(const std::vector<double>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

struct RowShape {
  int64_t rows, dim;
};
// Empty, one row, dim 1, odd sizes, and one past the parallel threshold.
const RowShape kRowShapes[] = {{0, 3},  {1, 1},   {1, 7},    {5, 1},
                               {7, 13}, {33, 64}, {3, 1000}, {300, 257}};
const int64_t kCounts[] = {0, 1, 7, 1000, 100003};

float* data_or_null(std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }
const float* data_or_null(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }

// ---------------------------------------------------------------------------
// Flat ops.

TEST(Elementwise, FlatOpsMatchPlainLoopsBitForBit) {
  for (int64_t n : kCounts) {
    SCOPED_TRACE(testing::Message() << "count=" << n);
    const auto a = random_floats(n, 1), b = random_floats(n, 2);
    const float alpha = 0.37f;
    std::vector<float> y(n, -5.0f), expect(n);

    hk::copy(kCpu, data_or_null(a), n, data_or_null(y));
    EXPECT_TRUE(same_bits(y, a));

    hk::add(kCpu, data_or_null(a), data_or_null(b), n, data_or_null(y));
    for (int64_t i = 0; i < n; ++i) expect[i] = a[i] + b[i];
    EXPECT_TRUE(same_bits(y, expect));

    auto acc = b;
    hk::axpy(kCpu, alpha, data_or_null(a), n, data_or_null(acc));
    for (int64_t i = 0; i < n; ++i) {
      expect[i] = b[i];
      expect[i] += alpha * a[i];
    }
    EXPECT_TRUE(same_bits(acc, expect));

    hk::scale(kCpu, alpha, data_or_null(a), n, data_or_null(y));
    for (int64_t i = 0; i < n; ++i) expect[i] = alpha * a[i];
    EXPECT_TRUE(same_bits(y, expect));

    std::fill(y.begin(), y.end(), -5.0f);
    hk::scale_by(kCpu, &alpha, data_or_null(a), n, data_or_null(y));
    EXPECT_TRUE(same_bits(y, expect));

    hk::mul(kCpu, data_or_null(a), data_or_null(b), n, data_or_null(y));
    for (int64_t i = 0; i < n; ++i) expect[i] = a[i] * b[i];
    EXPECT_TRUE(same_bits(y, expect));
  }
}

TEST(Elementwise, FlatOpsMayRunInPlace) {
  const int64_t n = 1001;
  const auto a = random_floats(n, 3), b = random_floats(n, 4);
  std::vector<float> sum(n), prod(n), scaled(n);
  hk::add(kCpu, a.data(), b.data(), n, sum.data());
  hk::mul(kCpu, a.data(), b.data(), n, prod.data());
  hk::scale(kCpu, -2.5f, a.data(), n, scaled.data());

  auto y = a;
  hk::add(kCpu, y.data(), b.data(), n, y.data());  // y aliases a
  EXPECT_TRUE(same_bits(y, sum));
  y = b;
  hk::add(kCpu, a.data(), y.data(), n, y.data());  // y aliases b
  EXPECT_TRUE(same_bits(y, sum));
  y = a;
  hk::mul(kCpu, y.data(), b.data(), n, y.data());
  EXPECT_TRUE(same_bits(y, prod));
  y = a;
  hk::scale(kCpu, -2.5f, y.data(), n, y.data());
  EXPECT_TRUE(same_bits(y, scaled));
  y = a;
  const float alpha = -2.5f;
  hk::scale_by(kCpu, &alpha, y.data(), n, y.data());
  EXPECT_TRUE(same_bits(y, scaled));
  y = a;
  hk::copy(kCpu, y.data(), n, y.data());
  EXPECT_TRUE(same_bits(y, a));
}

// loss = sum(r * (y0 + alpha x)): d/dx = alpha r (scale), d/dalpha = r.x
// (dot_accumulate), d/dy0 = r.
TEST(Elementwise, AxpyBackwardMatchesFiniteDifferences) {
  const int64_t n = 9;
  const auto x = random_floats(n, 5), y0 = random_floats(n, 6), r = random_floats(n, 7);
  const float alpha = 0.8f;
  auto loss = [&](const std::vector<double>& xv, double al) {
    double l = 0.0;
    for (int64_t i = 0; i < n; ++i) l += r[i] * (y0[i] + al * xv[i]);
    return l;
  };
  std::vector<float> dx(n);
  hk::scale(kCpu, alpha, r.data(), n, dx.data());
  EXPECT_TRUE(
      all_close(dx, numeric_gradient([&](const auto& v) { return loss(v, alpha); }, to_double(x)),
                kGradAtol, kGradRtol));
  float dalpha = 0.0f;
  hk::dot_accumulate(kCpu, r.data(), x.data(), n, &dalpha);
  const auto numeric_alpha = numeric_gradient(
      [&](const auto& v) { return loss(to_double(x), v[0]); }, std::vector<double>{alpha});
  EXPECT_NEAR(dalpha, numeric_alpha[0], 1e-5);
  // And the op itself is the function being differentiated.
  auto y = y0;
  hk::axpy(kCpu, alpha, x.data(), n, y.data());
  EXPECT_NEAR(dot(to_double(y), r), loss(to_double(x), alpha), 1e-5);
}

TEST(DotAccumulate, SumsInDoubleInOrderAndAccumulates) {
  for (int64_t n : kCounts) {
    SCOPED_TRACE(testing::Message() << "count=" << n);
    const auto a = random_floats(n, 8), b = random_floats(n, 9);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * static_cast<double>(b[i]);
    float out = 1.5f, expect = 1.5f;
    expect += static_cast<float>(sum);
    hk::dot_accumulate(kCpu, data_or_null(a), data_or_null(b), n, &out);
    EXPECT_EQ(out, expect);
  }
}

// ---------------------------------------------------------------------------
// Row scaling.

TEST(ScaleRows, MatchesPlainLoopAndRunsInPlace) {
  for (const auto& s : kRowShapes) {
    SCOPED_TRACE(testing::Message() << "rows=" << s.rows << " dim=" << s.dim);
    const auto x = random_floats(s.rows * s.dim, 10), sc = random_floats(s.rows, 11);
    std::vector<float> y(x.size(), 9.0f), expect(x.size());
    for (int64_t i = 0; i < s.rows; ++i) {
      for (int64_t k = 0; k < s.dim; ++k) expect[i * s.dim + k] = sc[i] * x[i * s.dim + k];
    }
    hk::scale_rows(kCpu, data_or_null(x), data_or_null(sc), s.rows, s.dim, data_or_null(y));
    EXPECT_TRUE(same_bits(y, expect));
    auto in_place = x;
    hk::scale_rows(kCpu, data_or_null(in_place), data_or_null(sc), s.rows, s.dim,
                   data_or_null(in_place));
    EXPECT_TRUE(same_bits(in_place, expect));
  }
}

// The item tower's loop: a zero scale skips the row, so non-finite values
// in a dropped row never reach the output.
TEST(AddScaledRows, MatchesPlainLoopAndSkipsZeroRows) {
  for (const auto& s : kRowShapes) {
    for (bool with_scale : {true, false}) {
      SCOPED_TRACE(testing::Message()
                   << "rows=" << s.rows << " dim=" << s.dim << " scale=" << with_scale);
      auto x = random_floats(s.rows * s.dim, 12);
      auto sc = random_floats(s.rows, 13);
      for (int64_t i = 0; i < s.rows; i += 3) {
        sc[i] = 0.0f;
        x[i * s.dim] = std::numeric_limits<float>::quiet_NaN();
      }
      const float* scale_ptr = with_scale ? data_or_null(sc) : nullptr;
      const auto y0 = random_floats(x.size(), 14);
      auto y = y0, expect = y0;
      for (int64_t i = 0; i < s.rows; ++i) {
        const float m = scale_ptr != nullptr ? scale_ptr[i] : 1.0f;
        if (m == 0.0f) continue;
        const float* e = x.data() + i * s.dim;
        float* v = expect.data() + i * s.dim;
        for (int64_t k = 0; k < s.dim; ++k) v[k] += m * e[k];
      }
      hk::add_scaled_rows(kCpu, data_or_null(x), scale_ptr, s.rows, s.dim, data_or_null(y));
      EXPECT_TRUE(same_bits(y, expect));
    }
  }
}

// loss = sum(r * (y0 + s_i x_i)): dx = scale_rows(r, s), ds = row_dot(r, x).
// For scale_rows the same without y0.
TEST(ScaleRows, BackwardOfScaleRowsAndAddScaledRowsMatchesFiniteDifferences) {
  const int64_t rows = 4, dim = 5;
  const auto x = random_floats(rows * dim, 15), sc = random_floats(rows, 16),
             y0 = random_floats(rows * dim, 17), r = random_floats(rows * dim, 18);
  for (bool accumulate : {false, true}) {
    SCOPED_TRACE(accumulate ? "add_scaled_rows" : "scale_rows");
    auto loss = [&](const std::vector<double>& xv, const std::vector<double>& sv) {
      double l = 0.0;
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t k = 0; k < dim; ++k) {
          l += r[i * dim + k] * ((accumulate ? y0[i * dim + k] : 0.0) + sv[i] * xv[i * dim + k]);
        }
      }
      return l;
    };
    std::vector<float> dx(x.size()), ds(rows);
    hk::scale_rows(kCpu, r.data(), sc.data(), rows, dim, dx.data());
    hk::row_dot(kCpu, r.data(), nullptr, x.data(), nullptr, rows, dim, ds.data());
    const auto xd = to_double(x), sd = to_double(sc);
    EXPECT_TRUE(all_close(dx, numeric_gradient([&](const auto& v) { return loss(v, sd); }, xd),
                          kGradAtol, kGradRtol));
    EXPECT_TRUE(all_close(ds, numeric_gradient([&](const auto& v) { return loss(xd, v); }, sd),
                          kGradAtol, kGradRtol));
    std::vector<float> y = accumulate ? y0 : std::vector<float>(x.size());
    if (accumulate) {
      hk::add_scaled_rows(kCpu, x.data(), sc.data(), rows, dim, y.data());
    } else {
      hk::scale_rows(kCpu, x.data(), sc.data(), rows, dim, y.data());
    }
    EXPECT_NEAR(dot(to_double(y), r), loss(xd, sd), 1e-5);
  }
}

// ---------------------------------------------------------------------------
// Gather and scatter.

TEST(GatherRows, CopiesRowsAndZeroesNegativeIndices) {
  const int64_t src_rows = 6, dim = 5;
  const auto src = random_floats(src_rows * dim, 20);
  const std::vector<int64_t> index = {3, -1, 0, 3, 5, -7};
  const int64_t n = static_cast<int64_t>(index.size());
  std::vector<float> out(n * dim, 4.0f), expect(n * dim, 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    if (index[i] < 0) continue;
    for (int64_t k = 0; k < dim; ++k) expect[i * dim + k] = src[index[i] * dim + k];
  }
  hk::gather_rows(kCpu, src.data(), src_rows, dim, index.data(), n, out.data(), false);
  EXPECT_TRUE(same_bits(out, expect));

  const auto base = random_floats(n * dim, 21);
  auto acc = base, acc_expect = base;
  for (int64_t i = 0; i < n; ++i) {
    if (index[i] < 0) continue;
    for (int64_t k = 0; k < dim; ++k) acc_expect[i * dim + k] += src[index[i] * dim + k];
  }
  hk::gather_rows(kCpu, src.data(), src_rows, dim, index.data(), n, acc.data(), true);
  EXPECT_TRUE(same_bits(acc, acc_expect));
}

TEST(GatherRows, EmptyAndEdgeShapes) {
  for (const auto& s : kRowShapes) {
    SCOPED_TRACE(testing::Message() << "n=" << s.rows << " dim=" << s.dim);
    const int64_t src_rows = 4;
    const auto src = random_floats(src_rows * s.dim, 22);
    const auto index = random_ints<int64_t>(s.rows, 23, -1, src_rows);
    std::vector<float> out(s.rows * s.dim), expect(s.rows * s.dim, 0.0f);
    for (int64_t i = 0; i < s.rows; ++i) {
      if (index[i] < 0) continue;
      for (int64_t k = 0; k < s.dim; ++k) expect[i * s.dim + k] = src[index[i] * s.dim + k];
    }
    hk::gather_rows(kCpu, src.data(), src_rows, s.dim, index.empty() ? nullptr : index.data(),
                    s.rows, data_or_null(out), false);
    EXPECT_TRUE(same_bits(out, expect));
  }
  // No source rows at all: every index must be negative.
  std::vector<float> out(2 * 3, 1.0f);
  const std::vector<int64_t> none = {-1, -1};
  hk::gather_rows(kCpu, nullptr, 0, 3, none.data(), 2, out.data(), false);
  EXPECT_EQ(out, std::vector<float>(6, 0.0f));
}

TEST(MakeRowScatter, GroupsByDestinationStableInSourceOrder) {
  const std::vector<int64_t> index = {2, -1, 0, 2, 2, 0, -3};
  const auto s = hk::make_row_scatter(index.data(), static_cast<int64_t>(index.size()), 4);
  EXPECT_EQ(s.offsets, (std::vector<int64_t>{0, 2, 2, 5, 5}));
  EXPECT_EQ(s.src_index, (std::vector<int64_t>{2, 5, 0, 3, 4}));
  const auto empty = hk::make_row_scatter(nullptr, 0, 3);
  EXPECT_EQ(empty.offsets, (std::vector<int64_t>{0, 0, 0, 0}));
  EXPECT_TRUE(empty.src_index.empty());
}

// Rebuilt into the same struct (a training step's reuse), a scatter equals a
// fresh one whatever the struct held before: larger, smaller, one row.
TEST(MakeRowScatter, ReusedOutputEqualsAFreshOne) {
  hk::HostRowScatter reused;
  for (int64_t dst_rows : {6, 2, 9, 1}) {
    const auto index = random_ints<int64_t>(3 * dst_rows + 1, dst_rows, -1, dst_rows);
    const int64_t n = static_cast<int64_t>(index.size());
    hk::make_row_scatter(index.data(), n, dst_rows, &reused);
    const auto fresh = hk::make_row_scatter(index.data(), n, dst_rows);
    EXPECT_EQ(reused.offsets, fresh.offsets) << "dst_rows " << dst_rows;
    EXPECT_EQ(reused.src_index, fresh.src_index) << "dst_rows " << dst_rows;
  }
}

// The loop a model wrote for its gradients, dst[index[i]] += src[i], is what
// scatter_add_rows computes from make_row_scatter(index), bit for bit.
TEST(ScatterAddRows, ReproducesTheSequentialScatterLoopBitForBit) {
  for (const auto& s : kRowShapes) {
    SCOPED_TRACE(testing::Message() << "n=" << s.rows << " dim=" << s.dim);
    const int64_t dst_rows = 5;  // few rows: many duplicates
    const auto src = random_floats(s.rows * s.dim, 30);
    const auto index = random_ints<int64_t>(s.rows, 31, -2, dst_rows);
    const auto dst0 = random_floats(dst_rows * s.dim, 32);
    auto expect = dst0;
    for (int64_t i = 0; i < s.rows; ++i) {
      if (index[i] < 0) continue;
      for (int64_t k = 0; k < s.dim; ++k) expect[index[i] * s.dim + k] += src[i * s.dim + k];
    }
    const auto host = hk::make_row_scatter(index.data(), s.rows, dst_rows);
    const hk::RowScatter scatter{dst_rows, host.offsets.data(),
                                 host.src_index.empty() ? nullptr : host.src_index.data()};
    auto dst = dst0;
    hk::scatter_add_rows(kCpu, scatter, data_or_null(src), s.rows, s.dim, dst.data());
    EXPECT_TRUE(same_bits(dst, expect));
  }
}

// The backward of gather_rows is the scatter of dout over the same index.
TEST(GatherRows, BackwardIsScatterAddRowsAndMatchesFiniteDifferences) {
  const int64_t src_rows = 5, dim = 3;
  const std::vector<int64_t> index = {4, 1, -1, 4, 0, 4};
  const int64_t n = static_cast<int64_t>(index.size());
  const auto src = random_floats(src_rows * dim, 33), r = random_floats(n * dim, 34);
  for (bool accumulate : {false, true}) {
    SCOPED_TRACE(accumulate ? "accumulate" : "overwrite");
    const auto base = random_floats(n * dim, 35);
    auto loss = [&](const std::vector<double>& table) {
      double l = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t k = 0; k < dim; ++k) {
          const double g = index[i] < 0 ? 0.0 : table[index[i] * dim + k];
          l += r[i * dim + k] * ((accumulate ? base[i * dim + k] : 0.0) + g);
        }
      }
      return l;
    };
    const auto host = hk::make_row_scatter(index.data(), n, src_rows);
    std::vector<float> dsrc(src_rows * dim, 0.0f);
    hk::scatter_add_rows(kCpu, {src_rows, host.offsets.data(), host.src_index.data()}, r.data(), n,
                         dim, dsrc.data());
    EXPECT_TRUE(all_close(dsrc, numeric_gradient(loss, to_double(src)), kGradAtol, kGradRtol));
    auto out = accumulate ? base : std::vector<float>(n * dim);
    hk::gather_rows(kCpu, src.data(), src_rows, dim, index.data(), n, out.data(), accumulate);
    EXPECT_NEAR(dot(to_double(out), r), loss(to_double(src)), 1e-5);
  }
}

// ---------------------------------------------------------------------------
// Segment mean.

struct Segments {
  std::vector<int64_t> offsets;
  int64_t count() const { return static_cast<int64_t>(offsets.size()) - 1; }
};
// Empty segments, a single row, a long one, and a nonzero first offset.
const Segments kSegmentCases[] = {{{0}},          {{0, 1}},     {{0, 0}}, {{0, 3, 3, 4, 9}},
                                  {{2, 2, 5, 6}}, {{0, 40, 41}}};

TEST(SegmentMean, ForwardMatchesPoolingLoopBitForBitAndTheMeanInDouble) {
  for (const auto& seg : kSegmentCases) {
    for (int64_t dim : {1, 7, 64}) {
      SCOPED_TRACE(testing::Message() << "segments=" << seg.count() << " dim=" << dim);
      const int64_t rows = seg.offsets.back();
      const auto x = random_floats(rows * dim, 40);
      std::vector<float> y(seg.count() * dim, 3.0f), expect(seg.count() * dim, 0.0f);
      std::vector<double> mean(seg.count() * dim, 0.0);
      for (int64_t s = 0; s < seg.count(); ++s) {
        const int64_t begin = seg.offsets[s], n = seg.offsets[s + 1] - begin;
        float* out = expect.data() + s * dim;
        for (int64_t r = begin; r < begin + n; ++r) {
          for (int64_t k = 0; k < dim; ++k) {
            out[k] += x[r * dim + k];
            mean[s * dim + k] += static_cast<double>(x[r * dim + k]) / static_cast<double>(n);
          }
        }
        if (n > 1) {
          const float inv = 1.0f / static_cast<float>(n);
          for (int64_t k = 0; k < dim; ++k) out[k] *= inv;
        }
      }
      hk::segment_mean_forward(kCpu, data_or_null(x), dim, seg.offsets.data(), seg.count(),
                               data_or_null(y));
      EXPECT_TRUE(same_bits(y, expect));
      EXPECT_TRUE(all_close(y, mean, 1e-6, 1e-5));
    }
  }
}

TEST(SegmentMean, BackwardMatchesFiniteDifferencesAndLeavesOtherRowsAlone) {
  const int64_t dim = 3;
  for (const auto& seg : kSegmentCases) {
    SCOPED_TRACE(testing::Message() << "segments=" << seg.count());
    const int64_t rows = seg.offsets.back();
    const auto x = random_floats(rows * dim, 41), r = random_floats(seg.count() * dim, 42);
    auto loss = [&](const std::vector<double>& xv) {
      double l = 0.0;
      for (int64_t s = 0; s < seg.count(); ++s) {
        const int64_t begin = seg.offsets[s], n = seg.offsets[s + 1] - begin;
        for (int64_t row = begin; row < begin + n; ++row) {
          for (int64_t k = 0; k < dim; ++k) l += r[s * dim + k] * xv[row * dim + k] / n;
        }
      }
      return l;
    };
    std::vector<float> dx(rows * dim, 0.0f);
    hk::segment_mean_backward(kCpu, data_or_null(r), dim, seg.offsets.data(), seg.count(),
                              data_or_null(dx));
    EXPECT_TRUE(all_close(dx, numeric_gradient(loss, to_double(x)), kGradAtol, kGradRtol));
    // Rows before offsets[0] are not part of any segment: untouched.
    std::vector<float> marked(rows * dim, 7.0f);
    hk::segment_mean_backward(kCpu, data_or_null(r), dim, seg.offsets.data(), seg.count(),
                              data_or_null(marked));
    for (int64_t i = 0; i < seg.offsets.front() * dim; ++i) EXPECT_EQ(marked[i], 7.0f);
  }
}

// ---------------------------------------------------------------------------
// Row reductions.

TEST(RowInverseNorms, MatchesPlainLoopAndZeroRowsGiveZero) {
  for (const auto& s : kRowShapes) {
    SCOPED_TRACE(testing::Message() << "rows=" << s.rows << " dim=" << s.dim);
    auto x = random_floats(s.rows * s.dim, 50);
    if (s.rows > 0) std::fill(x.begin(), x.begin() + s.dim, 0.0f);
    std::vector<float> inv(s.rows, 5.0f), expect(s.rows);
    std::vector<double> exact(s.rows);
    model_inverse_norms(s.rows, s.dim, x.data(), expect.data());
    for (int64_t i = 0; i < s.rows; ++i) {
      double sq = 0.0;
      for (int64_t k = 0; k < s.dim; ++k)
        sq += static_cast<double>(x[i * s.dim + k]) * x[i * s.dim + k];
      exact[i] = sq > 0.0 ? 1.0 / std::sqrt(sq) : 0.0;
    }
    hk::row_inverse_norms(kCpu, data_or_null(x), s.rows, s.dim, data_or_null(inv));
    EXPECT_TRUE(same_bits(inv, expect));
    EXPECT_TRUE(all_close(inv, exact, 1e-6, 1e-5));
    if (s.rows > 0) {
      EXPECT_EQ(inv[0], 0.0f);
    }
  }
}

TEST(RowDot, MatchesPlainLoopWithAndWithoutIndices) {
  for (const auto& s : kRowShapes) {
    for (bool indexed : {false, true}) {
      SCOPED_TRACE(testing::Message()
                   << "n=" << s.rows << " dim=" << s.dim << " indexed=" << indexed);
      const int64_t a_rows = indexed ? 3 : s.rows, b_rows = indexed ? 4 : s.rows;
      const auto a = random_floats(a_rows * s.dim, 51), b = random_floats(b_rows * s.dim, 52);
      const auto ai = random_ints<int64_t>(s.rows, 53, 0, 3),
                 bi = random_ints<int64_t>(s.rows, 54, 0, 4);
      const int64_t* a_index = indexed && s.rows > 0 ? ai.data() : nullptr;
      const int64_t* b_index = indexed && s.rows > 0 ? bi.data() : nullptr;
      std::vector<float> out(s.rows, 8.0f), expect(s.rows);
      std::vector<double> exact(s.rows, 0.0);
      for (int64_t i = 0; i < s.rows; ++i) {
        const float* ar = a.data() + (a_index ? a_index[i] : i) * s.dim;
        const float* br = b.data() + (b_index ? b_index[i] : i) * s.dim;
        expect[i] = model_dot(ar, br, s.dim);
        for (int64_t k = 0; k < s.dim; ++k) exact[i] += static_cast<double>(ar[k]) * br[k];
      }
      hk::row_dot(kCpu, data_or_null(a), a_index, data_or_null(b), b_index, s.rows, s.dim,
                  data_or_null(out));
      EXPECT_TRUE(same_bits(out, expect));
      EXPECT_TRUE(all_close(out, exact, 1e-5, 1e-5));
    }
  }
}

TEST(Elementwise, ResultsDoNotDependOnThreadCount) {
  const int64_t rows = 700, dim = 301;
  const auto x = random_floats(rows * dim, 60), sc = random_floats(rows, 61);
  const auto index = random_ints<int64_t>(rows, 62, -1, 9);
  const auto host = hk::make_row_scatter(index.data(), rows, 9);
  auto run = [&] {
    std::vector<float> a(rows * dim, 1.0f), inv(rows), g(9 * dim, 0.0f);
    hk::add_scaled_rows(kCpu, x.data(), sc.data(), rows, dim, a.data());
    hk::row_inverse_norms(kCpu, a.data(), rows, dim, inv.data());
    hk::scatter_add_rows(kCpu, {9, host.offsets.data(), host.src_index.data()}, a.data(), rows, dim,
                         g.data());
    a.insert(a.end(), inv.begin(), inv.end());
    a.insert(a.end(), g.begin(), g.end());
    return a;
  };
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = run();
  omp_set_num_threads(4);
  const auto four = run();
  omp_set_num_threads(saved);
  EXPECT_TRUE(same_bits(one, four));
}

// ---------------------------------------------------------------------------
// Argument checks.

TEST(Elementwise, RejectsBadArgumentsNamingFunctionArgumentAndValue) {
  std::vector<float> v(12, 1.0f), out(12);
  float* p = v.data();
  expect_error([&] { hk::copy(kCpu, p, -1, out.data()); }, "copy: count must be >= 0, got -1");
  expect_error([&] { hk::add(kCpu, p, nullptr, 3, out.data()); }, "add: b is null");
  expect_error([&] { hk::scale_by(kCpu, nullptr, p, 3, out.data()); },
               "scale_by: alpha_ptr is null");
  expect_error([&] { hk::scale_rows(kCpu, p, p, 2, 0, out.data()); },
               "scale_rows: dim must be positive, got 0");
  expect_error([&] { hk::add_scaled_rows(kCpu, p, nullptr, -2, 3, out.data()); },
               "add_scaled_rows: rows must be >= 0, got -2");
  expect_error([&] { hk::row_dot(kCpu, p, nullptr, p, nullptr, 2, 3, nullptr); },
               "row_dot: out is null");
  expect_error([&] { hk::dot_accumulate(kCpu, p, p, 3, nullptr); }, "dot_accumulate: out is null");

  const std::vector<int64_t> index = {1, -1, 4};
  expect_error([&] { hk::gather_rows(kCpu, p, 4, 3, index.data(), 3, out.data(), false); },
               "gather_rows: index 4 at position 2 must be < src_rows = 4");
  expect_error([&] { hk::make_row_scatter(index.data(), 3, 3); },
               "make_row_scatter: index 4 at position 2 must be < dst_rows = 3");
  const std::vector<int64_t> a_index = {0, -2};
  expect_error([&] { hk::row_dot(kCpu, p, a_index.data(), p, nullptr, 2, 3, out.data()); },
               "row_dot: a_index -2 at position 1 must be >= 0");

  const std::vector<int64_t> bad_order = {0, 2, 1};
  expect_error([&] { hk::segment_mean_forward(kCpu, p, 3, bad_order.data(), 2, out.data()); },
               "segment_mean_forward: offsets must be non-decreasing, but offsets[2] = 1 < "
               "offsets[1] = 2");
  const std::vector<int64_t> negative = {-1, 2};
  expect_error([&] { hk::segment_mean_backward(kCpu, p, 3, negative.data(), 1, out.data()); },
               "segment_mean_backward: offsets -1 at position 0 must be >= 0");
  const std::vector<int64_t> offsets = {0, 1, 3}, src_index = {2, 0, 5};
  expect_error(
      [&] {
        hk::scatter_add_rows(kCpu, {2, offsets.data(), src_index.data()}, p, 4, 3, out.data());
      },
      "scatter_add_rows: src_index 5 out of range [0, 4) (src_rows) at position 2");
  expect_error(
      [&] {
        hk::scatter_add_rows(kCpu, {2, offsets.data(), nullptr}, p, 4, 3, out.data());
      },
      "scatter_add_rows: src_index is null");

  // Nothing was written by the rejected calls.
  EXPECT_EQ(out, std::vector<float>(12, 0.0f));
}

TEST(Elementwise, WithoutCheckBoundsIndicesAreTrusted) {
  hk::Device fast = kCpu;
  fast.check_bounds = false;
  const auto src = random_floats(4 * 2, 70);
  const std::vector<int64_t> index = {3, -1};
  std::vector<float> out(4, 1.0f);
  hk::gather_rows(fast, src.data(), 4, 2, index.data(), 2, out.data(), false);
  EXPECT_EQ(out, (std::vector<float>{src[6], src[7], 0.0f, 0.0f}));
}

TEST(Elementwise, CudaRequestWithoutCudaBuildNamesTheOp) {
  if (hk::cuda_compiled()) GTEST_SKIP() << "built with CUDA";
  std::vector<float> v(3, 1.0f);
  expect_error([&] { hk::add(hk::Device::cuda(), v.data(), v.data(), 3, v.data()); },
               "add: the CUDA backend was requested");
}

}  // namespace

// Dense Adam: three steps against the formula in double (weight decay both
// ways, a clip coefficient), and the sum of squares in index order.
TEST(DenseAdam, StepsFollowTheFormulaAndSumOfSquaresIsExact) {
  const hk::Device cpu = hk::Device::cpu();
  const int64_t n = 37;
  for (const bool decoupled : {true, false}) {
    auto p = random_floats(n, 11), m = std::vector<float>(n, 0.0f), v = m;
    std::vector<double> rp(p.begin(), p.end()), rm(n, 0.0), rv(n, 0.0);
    for (int t = 1; t <= 3; ++t) {
      const auto g = random_floats(n, 20 + t);
      hk::DenseAdamStep s;
      s.learning_rate = 0.01f;
      s.weight_decay = 0.1f;
      s.decoupled_weight_decay = decoupled;
      s.clip_coef = 0.5f;
      s.inv_bias_correction1 = static_cast<float>(1.0 / (1.0 - std::pow(0.9, t)));
      s.inv_bias_correction2 = static_cast<float>(1.0 / (1.0 - std::pow(0.999, t)));
      hk::dense_adam_update(cpu, s, g.data(), n, p.data(), m.data(), v.data());
      for (int64_t i = 0; i < n; ++i) {
        double gi = 0.5 * g[i] + (decoupled ? 0.0 : 0.1 * rp[i]);
        rm[i] = 0.9 * rm[i] + 0.1 * gi;
        rv[i] = 0.999 * rv[i] + 0.001 * gi * gi;
        double u = (rm[i] / (1.0 - std::pow(0.9, t))) /
                   (std::sqrt(rv[i] / (1.0 - std::pow(0.999, t))) + 1e-8);
        if (decoupled) u += 0.1 * rp[i];
        rp[i] -= 0.01 * u;
      }
    }
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(p[i], rp[i], 1e-6) << i << " decoupled " << decoupled;
  }
  const std::vector<float> x = {1.0f, -2.0f, 3.0f, 0.5f};
  EXPECT_EQ(hk::sum_of_squares(cpu, x.data(), 4), 14.25);
  EXPECT_EQ(hk::sum_of_squares(cpu, nullptr, 0), 0.0);
}
