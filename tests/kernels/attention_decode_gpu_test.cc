// CUDA decode attention against the CPU backend on the same inputs, with the
// tolerance stated in hybrec/kernels/attention.h: head dims that do and do
// not fill a warp's lanes (1, 31, 64, 100, 256), caches from 1 to 2000
// positions, many (batch, head) blocks, misaligned pointers, repeatability
// and the lengths check.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "attention_decode_problem.h"
#include "hybrec/kernels/attention.h"
#include "testing.h"

namespace hk = hybrec::kernels;
using hybrec::testing::all_close;
using hybrec::testing::DecodeProblem;
using hybrec::testing::DecodeShape;

namespace {

const hk::Device kCpu = hk::Device::cpu();
const hk::Device kGpu = hk::Device::cuda();
constexpr double kAtol = 1e-5, kRtol = 1e-4;

// A device copy of a host array, shifted by one element when `misalign`.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& host, bool misalign = false)
      : offset_(misalign ? 1 : 0), count_(host.size()), buffer_(kGpu, host.size() + offset_) {
    if (count_ > 0) hk::copy_to_device(kGpu, data(), host.data(), count_ * sizeof(T));
  }
  T* data() { return buffer_.data() + offset_; }
  std::vector<T> download() {
    std::vector<T> host(count_);
    if (count_ > 0) hk::copy_to_host(kGpu, host.data(), data(), count_ * sizeof(T));
    return host;
  }

 private:
  std::size_t offset_, count_;
  hk::Buffer<T> buffer_;
};

std::vector<float> run(const DecodeProblem& pb, const hk::Device& device, bool misalign = false) {
  auto p = pb.params();
  if (!device.is_cuda()) {
    std::vector<float> out(pb.out_size());
    p.q = pb.q.data();
    p.k_cache = pb.k.data();
    p.v_cache = pb.v.data();
    p.lengths = pb.lengths.data();
    p.out = out.data();
    hk::attention_decode_forward(device, p);
    return out;
  }
  DeviceArray<float> q(pb.q, misalign), k(pb.k, misalign), v(pb.v, misalign),
      out(std::vector<float>(pb.out_size(), -9.0f), misalign);
  DeviceArray<std::int64_t> lengths(pb.lengths);
  p.q = q.data();
  p.k_cache = k.data();
  p.v_cache = v.data();
  p.lengths = lengths.data();
  p.out = out.data();
  hk::attention_decode_forward(device, p);
  return out.download();
}

TEST(AttentionDecodeGpu, MatchesCpuBackend) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const DecodeShape shapes[] = {{1, 1, 1, 1},    {3, 2, 31, 7},    {4, 4, 64, 129}, {2, 3, 100, 50},
                                {2, 2, 256, 65}, {1, 2, 64, 2000}, {300, 8, 32, 20}};
  std::uint64_t seed = 1;
  for (const auto& s : shapes) {
    for (bool misalign : {false, true}) {
      SCOPED_TRACE(testing::Message() << s << " misalign=" << misalign);
      DecodeProblem pb(s, seed += 10);
      const auto cpu = run(pb, kCpu);
      const auto gpu = run(pb, kGpu, misalign);
      EXPECT_TRUE(all_close(gpu, cpu, kAtol, kRtol));
      EXPECT_TRUE(all_close(gpu, pb.reference(), kAtol, kRtol));
      EXPECT_EQ(run(pb, kGpu, misalign), gpu);  // fixed merge order: repeatable
    }
  }
}

TEST(AttentionDecodeGpu, NonDefaultScaleMatchesCpuBackend) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  DecodeProblem pb({5, 3, 48, 40}, 77);
  pb.scale = 0.9f;
  EXPECT_TRUE(all_close(run(pb, kGpu), run(pb, kCpu), kAtol, kRtol));
}

TEST(AttentionDecodeGpu, LengthsAreCheckedOnTheHostAndClampedWithoutChecks) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  DecodeProblem pb({2, 1, 8, 5}, 88);
  pb.lengths = {2, 6};
  try {
    run(pb, kGpu);
    ADD_FAILURE() << "expected an error for lengths[1] = 6";
  } catch (const hybrec::Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "attention_decode_forward: lengths[1] = 6 out of range [1, max_len = 5]"),
              std::string::npos)
        << e.what();
  }
  hk::Device fast = kGpu;
  fast.check_bounds = false;
  hk::Device cpu_fast = kCpu;
  cpu_fast.check_bounds = false;
  pb.lengths = {0, 6};
  EXPECT_TRUE(all_close(run(pb, fast), run(pb, cpu_fast), kAtol, kRtol));
}

}  // namespace
