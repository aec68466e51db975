// The GGUF reader on the real SmolLM2-135M-Instruct (Q4_1) that
// scripts/get-smollm2.sh places in models/: the Llama hyperparameters, the
// tokenizer arrays and the token embedding (Q8_0 in this file) dequantised.
// Skipped when the model is absent.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "trainer/text/gguf.h"

namespace hybrec::text {
namespace {

const std::string kModel =
    std::string(HYBREC_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

TEST(GgufModel, ReadsSmolLM2) {
  if (!std::filesystem::exists(kModel)) {
    GTEST_SKIP() << "no SmolLM2 at " << kModel << " (run scripts/get-smollm2.sh)";
  }
  GgufFile f(kModel);
  EXPECT_EQ(f.architecture(), "llama");
  const uint32_t layers = f.get_u32("llama.block_count");
  const uint32_t dim = f.get_u32("llama.embedding_length");
  const uint32_t heads = f.get_u32("llama.attention.head_count");
  const uint32_t kv_heads = f.get_u32("llama.attention.head_count_kv");
  EXPECT_EQ(layers, 30u);
  EXPECT_EQ(dim, 576u);
  EXPECT_EQ(heads, 9u);
  EXPECT_EQ(kv_heads, 3u);
  EXPECT_EQ(f.get_u32("llama.feed_forward_length"), 1536u);
  EXPECT_GT(f.get_f32("llama.rope.freq_base"), 0.0f);
  EXPECT_GT(f.get_f32("llama.attention.layer_norm_rms_epsilon"), 0.0f);

  const auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  EXPECT_EQ(tokens.size(), 49152u);
  EXPECT_EQ(f.get_i32_array("tokenizer.ggml.token_type").size(), tokens.size());
  EXPECT_GT(f.get_string_array("tokenizer.ggml.merges").size(), 1000u);
  EXPECT_LT(f.get_u32("tokenizer.ggml.eos_token_id"), tokens.size());

  // Every layer's attention query, stored Q4_1, reads at [dim, dim].
  for (uint32_t l = 0; l < layers; ++l) {
    const auto& q = f.tensor("blk." + std::to_string(l) + ".attn_q.weight");
    EXPECT_EQ(q.type, GgmlType::kQ4_1);
    EXPECT_EQ(q.shape(), (std::vector<int64_t>{dim, dim}));
  }
  const auto q0 = f.read_f32("blk.0.attn_q.weight", {dim, dim});
  double q_abs = 0.0;
  for (float v : q0) {
    ASSERT_TRUE(std::isfinite(v));
    q_abs += std::fabs(v);
  }
  EXPECT_GT(q_abs, 0.0);

  const int64_t vocab = static_cast<int64_t>(tokens.size());
  const auto emb = f.read_f32("token_embd.weight", {vocab, dim});
  ASSERT_EQ(emb.size(), static_cast<std::size_t>(vocab) * dim);
  double sum_sq = 0.0;
  for (float v : emb) {
    ASSERT_TRUE(std::isfinite(v));
    sum_sq += static_cast<double>(v) * v;
  }
  EXPECT_GT(sum_sq, 0.0);
  const auto norm = f.read_f32("blk.0.attn_norm.weight", {dim});
  EXPECT_EQ(norm.size(), dim);
}

}  // namespace
}  // namespace hybrec::text
