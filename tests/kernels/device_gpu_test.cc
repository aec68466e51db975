#include <gtest/gtest.h>

#include "hybrec/kernels/device.h"
#include "hybrec/kernels/stream_timer.h"
#include "testing.h"

namespace hk = hybrec::kernels;

TEST(DeviceGpu, CudaBufferRoundTripsValues) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const auto values = hybrec::testing::random_floats(1 << 20, 11);
  hk::Buffer<float> buffer(hk::Device::cuda(), values);
  EXPECT_EQ(buffer.download(), values);
  buffer.zero();
  hk::synchronize(hk::Device::cuda());
  EXPECT_EQ(buffer.download(), std::vector<float>(values.size(), 0.0f));
}

TEST(DeviceGpu, StreamTimerMeasuresTheWorkBetweenMarks) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const hk::Device device = hk::Device::cuda();
  hk::Buffer<float> buffer(device, std::size_t{1} << 28);  // 1 GiB
  hk::StreamTimer timer(device, 3);
  timer.mark(0);
  for (int i = 0; i < 10; ++i) buffer.zero();  // 10 GiB of writes: over 2 ms on any GPU
  timer.mark(1);
  timer.mark(2);
  const double work = timer.seconds(0, 1), empty = timer.seconds(1, 2);
  EXPECT_GT(work, 0.002) << work;
  EXPECT_LT(empty, work / 10) << empty;
}
