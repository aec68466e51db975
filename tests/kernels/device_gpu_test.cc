#include <gtest/gtest.h>

#include "hybrec/kernels/device.h"
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
