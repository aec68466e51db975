// The BERT encoder on the CUDA backend against the CPU backend, on a tiny
// random model the test writes (so it needs no download): packed batches of
// mixed lengths, each pooling mode. Skips without a CUDA device. Bundled and
// run by benchmarks/gpu/check.sh like every test_*_gpu.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "hybrec/kernels/device.h"
#include "testing/temp_dir.h"
#include "text_testing.h"
#include "trainer/text/bert_encoder.h"

namespace hybrec::text {
namespace {

namespace k = hybrec::kernels;

class BertEncoderGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (k::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  }
  hybrec::testing::TempDir dir_{"hybrec-bert-gpu"};
};

// head_dim 32 (the CUDA attention's smallest): hidden 64, 2 heads.
TEST_F(BertEncoderGpu, MatchesTheCpuBackend) {
  testing::write_tiny_bert(dir_.path(), 17, /*vocab=*/40, /*hidden=*/64, /*layers=*/2,
                           /*heads=*/2, /*intermediate=*/128, /*positions=*/64);
  const std::vector<std::vector<int32_t>> seqs = {
      {2, 4, 3}, {2, 5, 6, 7, 3}, {2, 9, 10, 11, 3}, {2, 3}, {2, 4, 5, 6, 7, 8, 3, 4, 5, 6, 3}};
  for (const char* mode : {"mean_tokens", "cls_token", "max_tokens"}) {
    std::filesystem::create_directories(dir_ / "1_Pooling");
    std::ofstream(dir_ / "modules.json")
        << "[{\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"},"
           "{\"path\":\"2_Normalize\",\"type\":\"sentence_transformers.models.Normalize\"}]";
    std::ofstream(dir_ / "1_Pooling/config.json") << "{\"pooling_mode_" << mode << "\": true}";
    const BertEncoder cpu(dir_.path());
    const BertEncoder gpu(dir_.path(), k::Device::cuda());
    std::vector<float> want(seqs.size() * 64), got(seqs.size() * 64);
    cpu.encode_ids(seqs, want.data());
    gpu.encode_ids(seqs, got.data());
    for (std::size_t i = 0; i < want.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], 1e-4 + 1e-3 * std::fabs(want[i])) << mode << " value " << i;
    }
  }
}

}  // namespace
}  // namespace hybrec::text
