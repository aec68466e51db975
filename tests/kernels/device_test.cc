#include "hybrec/kernels/device.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "hybrec/kernels/stream_timer.h"
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

TEST(StreamTimer, CpuSpansAreTheHostTimeBetweenMarks) {
  hk::StreamTimer timer(hk::Device::cpu(), 3);
  timer.mark(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  timer.mark(1);
  timer.mark(2);
  EXPECT_GE(timer.seconds(0, 1), 0.019);
  EXPECT_LT(timer.seconds(1, 2), timer.seconds(0, 1));
  EXPECT_NEAR(timer.seconds(0, 2), timer.seconds(0, 1) + timer.seconds(1, 2), 1e-9);
}

TEST(StreamTimer, AnUnrecordedMarkIsAnError) {
  hk::StreamTimer timer(hk::Device::cpu(), 2);
  timer.mark(0);
  EXPECT_THROW(timer.seconds(0, 1), hybrec::Error);
  timer.mark(1);
  EXPECT_NO_THROW(timer.seconds(0, 1));
  timer.clear();
  EXPECT_FALSE(timer.marked(0));
  EXPECT_THROW(timer.seconds(0, 1), hybrec::Error);
  EXPECT_THROW(timer.mark(2), hybrec::Error);
}
