// CUDA elementwise and row ops against the CPU backend on the same inputs,
// with the tolerances stated in hybrec/kernels/elementwise.h: bit for bit
// for the maps, gathers, scatters and segment means, small tolerances for
// the sums. Shapes cover empty and one-row inputs, dims that are and are not
// multiples of 4, misaligned pointers (scalar paths), counts past one grid
// (grid-stride loops), in-place calls, bounds errors reported by the device
// check, and bit-for-bit repeatability of the reductions.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "elementwise_reference.h"
#include "hybrec/kernels/elementwise.h"
#include "testing.h"

namespace hk = hybrec::kernels;
using hybrec::testing::expect_error;
using hybrec::testing::all_close;
using hybrec::testing::random_floats;
using hybrec::testing::random_ints;
using hybrec::testing::same_bits;

namespace {

const hk::Device kCpu = hk::Device::cpu();
const hk::Device kGpu = hk::Device::cuda();

constexpr double kFmaAtol = 1e-6, kFmaRtol = 1e-6;  // axpy, add_scaled_rows
constexpr double kSumAtol = 1e-6, kSumRtol = 1e-5;  // row_inverse_norms, row_dot
constexpr double kDotAtol = 1e-6, kDotRtol = 1e-6;  // dot_accumulate

// A device copy of a host array; `misalign` shifts it by one element so the
// kernels take their scalar (non-float4) path.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& host, bool misalign = false)
      : offset_(misalign ? 1 : 0), count_(host.size()), buffer_(kGpu, host.size() + offset_) {
    if (count_ > 0) hk::copy_to_device(kGpu, data(), host.data(), count_ * sizeof(T));
  }
  T* data() { return count_ == 0 ? nullptr : buffer_.data() + offset_; }
  std::vector<T> download() {
    std::vector<T> host(count_);
    if (count_ > 0) hk::copy_to_host(kGpu, host.data(), data(), count_ * sizeof(T));
    return host;
  }

 private:
  std::size_t offset_, count_;
  hk::Buffer<T> buffer_;
};
using Floats = DeviceArray<float>;
using Ints = DeviceArray<int64_t>;

float* host_ptr(std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }
const float* host_ptr(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }
const int64_t* host_ptr(const std::vector<int64_t>& v) { return v.empty() ? nullptr : v.data(); }


struct RowShape {
  int64_t rows, dim;
};
const RowShape kRowShapes[] = {{0, 3},   {1, 1},    {1, 7},     {5, 1},    {7, 13},
                               {33, 64}, {3, 1000}, {4096, 96}, {2000, 33}};
const int64_t kCounts[] = {0, 1, 7, 1001, 5000003};

// ---------------------------------------------------------------------------

TEST(ElementwiseGpu, FlatOpsMatchCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  for (int64_t n : kCounts) {
    for (bool misalign : {false, true}) {
      SCOPED_TRACE(testing::Message() << "count=" << n << " misalign=" << misalign);
      const auto a = random_floats(n, 1), b = random_floats(n, 2);
      const float alpha = -0.61f;
      Floats da(a, misalign), db(b), dy(std::vector<float>(n, 3.0f)), dalpha({alpha});
      std::vector<float> y(n, 3.0f);

      hk::copy(kGpu, da.data(), n, dy.data());
      EXPECT_TRUE(same_bits(dy.download(), a));

      hk::add(kCpu, host_ptr(a), host_ptr(b), n, host_ptr(y));
      hk::add(kGpu, da.data(), db.data(), n, dy.data());
      EXPECT_TRUE(same_bits(dy.download(), y));

      hk::mul(kCpu, host_ptr(a), host_ptr(b), n, host_ptr(y));
      hk::mul(kGpu, da.data(), db.data(), n, dy.data());
      EXPECT_TRUE(same_bits(dy.download(), y));

      hk::scale(kCpu, alpha, host_ptr(a), n, host_ptr(y));
      hk::scale(kGpu, alpha, da.data(), n, dy.data());
      EXPECT_TRUE(same_bits(dy.download(), y));
      Floats dz(std::vector<float>(n, 0.0f));
      hk::scale_by(kGpu, dalpha.data(), da.data(), n, dz.data());
      EXPECT_TRUE(same_bits(dz.download(), y));

      auto acc = b;
      Floats dacc(b, misalign);
      hk::axpy(kCpu, alpha, host_ptr(a), n, host_ptr(acc));
      hk::axpy(kGpu, alpha, da.data(), n, dacc.data());
      EXPECT_TRUE(all_close(dacc.download(), acc, kFmaAtol, kFmaRtol));

      // In place: y is an input.
      hk::add(kCpu, host_ptr(a), host_ptr(b), n, host_ptr(y));
      hk::add(kGpu, da.data(), db.data(), n, da.data());
      EXPECT_TRUE(same_bits(da.download(), y));
    }
  }
}

TEST(ElementwiseGpu, DotAccumulateMatchesCpuAndRepeatsBitForBit) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  for (int64_t n : kCounts) {
    SCOPED_TRACE(testing::Message() << "count=" << n);
    const auto a = random_floats(n, 3), b = random_floats(n, 4);
    float cpu = 0.25f;
    hk::dot_accumulate(kCpu, host_ptr(a), host_ptr(b), n, &cpu);
    Floats da(a), db(b), out({0.25f});
    hk::dot_accumulate(kGpu, da.data(), db.data(), n, out.data());
    const float first = out.download()[0];
    EXPECT_TRUE(all_close(std::vector<float>{first}, std::vector<float>{cpu}, kDotAtol, kDotRtol));
    Floats again({0.25f});
    hk::dot_accumulate(kGpu, da.data(), db.data(), n, again.data());
    EXPECT_EQ(again.download()[0], first);
  }
}

TEST(ElementwiseGpu, RowScalingMatchesCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  for (const auto& s : kRowShapes) {
    for (bool misalign : {false, true}) {
      SCOPED_TRACE(testing::Message()
                   << "rows=" << s.rows << " dim=" << s.dim << " misalign=" << misalign);
      const auto x = random_floats(s.rows * s.dim, 5), y0 = random_floats(s.rows * s.dim, 6);
      auto sc = random_floats(s.rows, 7);
      for (int64_t i = 0; i < s.rows; i += 4) sc[i] = 0.0f;
      Floats dx(x, misalign), dsc(sc), dy(y0, misalign);
      std::vector<float> y(x.size());
      hk::scale_rows(kCpu, host_ptr(x), host_ptr(sc), s.rows, s.dim, host_ptr(y));
      hk::scale_rows(kGpu, dx.data(), dsc.data(), s.rows, s.dim, dy.data());
      EXPECT_TRUE(same_bits(dy.download(), y));
      hk::scale_rows(kGpu, dx.data(), dsc.data(), s.rows, s.dim, dx.data());  // in place
      EXPECT_TRUE(same_bits(dx.download(), y));

      for (bool with_scale : {true, false}) {
        auto acc = y0;
        Floats dacc(y0, misalign), dx2(x, misalign);
        hk::add_scaled_rows(kCpu, host_ptr(x), with_scale ? host_ptr(sc) : nullptr, s.rows, s.dim,
                            host_ptr(acc));
        hk::add_scaled_rows(kGpu, dx2.data(), with_scale ? dsc.data() : nullptr, s.rows, s.dim,
                            dacc.data());
        EXPECT_TRUE(all_close(dacc.download(), acc, kFmaAtol, kFmaRtol)) << "scale=" << with_scale;
      }
    }
  }
}

TEST(ElementwiseGpu, GatherAndScatterMatchCpuBitForBit) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  for (const auto& s : kRowShapes) {
    for (bool misalign : {false, true}) {
      SCOPED_TRACE(testing::Message()
                   << "n=" << s.rows << " dim=" << s.dim << " misalign=" << misalign);
      const int64_t table_rows = 37;  // few rows: many duplicates in the scatter
      const auto src = random_floats(table_rows * s.dim, 8);
      const auto index = random_ints<int64_t>(s.rows, 9, -3, table_rows);
      const auto base = random_floats(s.rows * s.dim, 10);
      Floats dsrc(src, misalign);
      Ints dindex(index);
      for (bool accumulate : {false, true}) {
        auto out = base;
        Floats dout(base, misalign);
        hk::gather_rows(kCpu, src.data(), table_rows, s.dim, host_ptr(index), s.rows, host_ptr(out),
                        accumulate);
        hk::gather_rows(kGpu, dsrc.data(), table_rows, s.dim, dindex.data(), s.rows, dout.data(),
                        accumulate);
        EXPECT_TRUE(same_bits(dout.download(), out)) << "accumulate=" << accumulate;
      }

      // The gather's backward: dsrc += scatter of a gradient over the index.
      const auto host = hk::make_row_scatter(host_ptr(index), s.rows, table_rows);
      const auto grad = random_floats(s.rows * s.dim, 11);
      auto dst = src;
      hk::scatter_add_rows(kCpu, {table_rows, host.offsets.data(), host_ptr(host.src_index)},
                           host_ptr(grad), s.rows, s.dim, dst.data());
      Ints doffsets(host.offsets), dsrc_index(host.src_index);
      Floats dgrad(grad, misalign), ddst(src, misalign);
      hk::scatter_add_rows(kGpu, {table_rows, doffsets.data(), dsrc_index.data()}, dgrad.data(),
                           s.rows, s.dim, ddst.data());
      EXPECT_TRUE(same_bits(ddst.download(), dst));
    }
  }
}

TEST(ElementwiseGpu, SegmentMeanMatchesCpuBitForBit) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const std::vector<std::vector<int64_t>> cases = {
      {0}, {0, 1}, {0, 0}, {0, 3, 3, 4, 9}, {2, 2, 5, 6}, {0, 200, 201}};
  for (const auto& offsets : cases) {
    for (int64_t dim : {1, 7, 64, 1000}) {
      for (bool misalign : {false, true}) {
        const int64_t segments = static_cast<int64_t>(offsets.size()) - 1;
        const int64_t rows = offsets.back();
        SCOPED_TRACE(testing::Message()
                     << "segments=" << segments << " dim=" << dim << " misalign=" << misalign);
        const auto x = random_floats(rows * dim, 12), dy = random_floats(segments * dim, 13);
        std::vector<float> y(segments * dim, 5.0f), dx(rows * dim, 5.0f);
        hk::segment_mean_forward(kCpu, host_ptr(x), dim, offsets.data(), segments, host_ptr(y));
        hk::segment_mean_backward(kCpu, host_ptr(dy), dim, offsets.data(), segments, host_ptr(dx));
        Floats dx_in(x, misalign), ddy(dy, misalign);
        Floats dy_out(std::vector<float>(y.size(), 5.0f), misalign),
            ddx(std::vector<float>(dx.size(), 5.0f), misalign);
        Ints doffsets(offsets);
        hk::segment_mean_forward(kGpu, dx_in.data(), dim, doffsets.data(), segments, dy_out.data());
        hk::segment_mean_backward(kGpu, ddy.data(), dim, doffsets.data(), segments, ddx.data());
        EXPECT_TRUE(same_bits(dy_out.download(), y));
        EXPECT_TRUE(same_bits(ddx.download(), dx));
      }
    }
  }
}

TEST(ElementwiseGpu, RowReductionsMatchCpuAndRepeat) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  for (const auto& s : kRowShapes) {
    SCOPED_TRACE(testing::Message() << "rows=" << s.rows << " dim=" << s.dim);
    auto x = random_floats(s.rows * s.dim, 14);
    if (s.rows > 0) std::fill(x.begin(), x.begin() + s.dim, 0.0f);  // a zero row
    const auto b = random_floats(11 * s.dim, 15);
    const auto b_index = random_ints<int64_t>(s.rows, 16, 0, 11);
    std::vector<float> inv(s.rows), dots(s.rows);
    hk::row_inverse_norms(kCpu, host_ptr(x), s.rows, s.dim, host_ptr(inv));
    hk::row_dot(kCpu, host_ptr(x), nullptr, b.data(), host_ptr(b_index), s.rows, s.dim,
                host_ptr(dots));
    Floats dx(x), db(b), dinv(std::vector<float>(s.rows)), ddots(std::vector<float>(s.rows));
    Ints dbi(b_index);
    hk::row_inverse_norms(kGpu, dx.data(), s.rows, s.dim, dinv.data());
    hk::row_dot(kGpu, dx.data(), nullptr, db.data(), dbi.data(), s.rows, s.dim, ddots.data());
    const auto gpu_inv = dinv.download(), gpu_dots = ddots.download();
    EXPECT_TRUE(all_close(gpu_inv, inv, kSumAtol, kSumRtol));
    EXPECT_TRUE(all_close(gpu_dots, dots, kSumAtol * s.dim, kSumRtol));
    if (s.rows > 0) {
      EXPECT_EQ(gpu_inv[0], 0.0f);
    }
    hk::row_dot(kGpu, dx.data(), nullptr, db.data(), dbi.data(), s.rows, s.dim, ddots.data());
    EXPECT_TRUE(same_bits(ddots.download(), gpu_dots));
  }
}

TEST(ElementwiseGpu, DeviceBoundsCheckReportsValueAndPosition) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  Floats src(random_floats(4 * 3, 17)), out(std::vector<float>(5 * 3, 0.0f));
  Ints index({1, -1, 3, 4, 0});
  expect_error([&] { hk::gather_rows(kGpu, src.data(), 4, 3, index.data(), 5, out.data(), false); },
               "gather_rows: index 4 at position 3 must be < src_rows = 4");
  EXPECT_EQ(out.download(), std::vector<float>(15, 0.0f));  // nothing written

  Ints offsets({0, 2, 1});
  expect_error(
      [&] { hk::segment_mean_forward(kGpu, src.data(), 3, offsets.data(), 2, out.data()); },
      "segment_mean_forward: offsets must be non-decreasing, but offsets[2] = 1 < offsets[1] = 2");
  Ints good_offsets({0, 1, 3}), src_index({2, 0, 7});
  expect_error(
      [&] {
        hk::scatter_add_rows(kGpu, {2, good_offsets.data(), src_index.data()}, src.data(), 4, 3,
                             out.data());
      },
      "scatter_add_rows: src_index 7 out of range [0, 4) (src_rows) at position 2");
  Ints negative({0, -5});
  expect_error(
      [&] {
        hk::row_dot(kGpu, src.data(), nullptr, src.data(), negative.data(), 2, 3, out.data());
      },
      "row_dot: b_index -5 at position 1 must be >= 0");
}

}  // namespace

TEST(ElementwiseGpu, DenseAdamAndSumOfSquaresMatchCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  for (int64_t n : kCounts) {
    SCOPED_TRACE(testing::Message() << "count=" << n);
    auto p = random_floats(n, 5), m = random_floats(n, 6), v = random_floats(n, 7, 0.0f, 1.0f);
    const auto g = random_floats(n, 8);
    Floats dp(p), dm(m), dv(v), dg(g);
    hk::DenseAdamStep s;
    s.weight_decay = 0.01f;
    s.clip_coef = 0.7f;
    s.inv_bias_correction1 = 10.0f;
    s.inv_bias_correction2 = 1000.0f;
    hk::dense_adam_update(kCpu, s, host_ptr(g), n, host_ptr(p), host_ptr(m), host_ptr(v));
    hk::dense_adam_update(kGpu, s, dg.data(), n, dp.data(), dm.data(), dv.data());
    EXPECT_TRUE(all_close(dp.download(), p, 1e-6, 1e-5));
    EXPECT_TRUE(all_close(dm.download(), m, 1e-6, 1e-5));
    EXPECT_TRUE(all_close(dv.download(), v, 1e-6, 1e-5));
    const double cpu = hk::sum_of_squares(kCpu, host_ptr(g), n);
    const double gpu = hk::sum_of_squares(kGpu, dg.data(), n);
    EXPECT_NEAR(gpu, cpu, 1e-9 * (1.0 + cpu));
  }
}
