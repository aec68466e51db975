#include <gtest/gtest.h>

#include "hybrec/kernels/device.h"
#include "testing.h"

namespace hk = hybrec::kernels;

TEST(Device, CpuBufferRoundTripsValues) {
  const auto values = hybrec::testing::random_floats(1000, 7);
  hk::Buffer<float> buffer(hk::Device::cpu(), values);
  EXPECT_EQ(buffer.download(), values);
  buffer.zero();
  EXPECT_EQ(buffer.download(), std::vector<float>(1000, 0.0f));
}

TEST(Device, UploadOfWrongSizeIsAnError) {
  hk::Buffer<float> buffer(hk::Device::cpu(), 4);
  EXPECT_THROW(buffer.upload(std::vector<float>(5)), hybrec::Error);
}

TEST(Device, CudaWithoutDeviceIsAClearError) {
  if (hk::cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  try {
    hk::Buffer<float> buffer(hk::Device::cuda(), 4);
    FAIL() << "allocating on a missing CUDA device did not throw";
  } catch (const hybrec::Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
}
