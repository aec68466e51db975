// LlamaModel's loading checks and LlamaSession's cache on a tiny random
// Llama written here as a GGUF file (F32 weights): the architecture, every
// tensor's presence and shape, the context limit; prefill then steps equal
// to one longer prefill; an untied output.weight is the one used.
#include "trainer/llm/llama_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"
#include "testing/gguf_bytes.h"
#include "testing/temp_dir.h"
#include "testing/tiny_llama.h"

namespace hybrec::llm {
namespace {

using hybrec::testing::put;
using hybrec::testing::put_string;

// The tiny model of testing/tiny_llama.h: dim 8, 2 query heads sharing 1
// KV head of 4, FFN 12, vocabulary 10, 2 layers, context 6.
using Spec = testing::TinyLlamaSpec;
constexpr uint32_t kDim = testing::kTinyDim, kHeads = testing::kTinyHeads,
                   kKvHeads = testing::kTinyKvHeads, kFfn = testing::kTinyFfn,
                   kLayers = testing::kTinyLayers;
constexpr uint32_t kVocab = 10, kContext = 6;

std::string build(const Spec& spec, std::vector<float>* output_weight = nullptr) {
  return testing::tiny_llama_gguf(spec, output_weight);
}

class LlamaModelTest : public ::testing::Test {
 protected:
  std::string write(const Spec& spec, std::vector<float>* output_weight = nullptr) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    const std::string bytes = build(spec, output_weight);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path_;
  }
  std::string load_error(const Spec& spec) {
    write(spec);
    try {
      text::GgufFile f(path_);
      LlamaModel m(f);
    } catch (const hybrec::Error& e) {
      return e.what();
    }
    return "";
  }

  hybrec::testing::TempDir dir_{"hybrec-llama"};
  std::string path_ = dir_ / "tiny.gguf";
};

TEST_F(LlamaModelTest, LoadsAndReadsTheConfig) {
  text::GgufFile f(write(Spec{}));
  LlamaModel m(f);
  EXPECT_EQ(m.config().head_dim, 4);
  EXPECT_EQ(m.config().vocab, kVocab);
  EXPECT_EQ(m.config().context_length, kContext);
  EXPECT_TRUE(m.tied_embeddings());
}

TEST_F(LlamaModelTest, RejectsAnotherArchitectureNamingIt) {
  Spec s;
  s.architecture = "gpt2";
  const std::string e = load_error(s);
  EXPECT_NE(e.find("general.architecture is \"gpt2\""), std::string::npos) << e;
}

TEST_F(LlamaModelTest, NamesAMissingTensor) {
  Spec s;
  s.drop = "blk.1.ffn_down.weight";
  const std::string e = load_error(s);
  EXPECT_NE(e.find("blk.1.ffn_down.weight"), std::string::npos) << e;
}

TEST_F(LlamaModelTest, NamesAMisshapenTensorAndBothShapes) {
  Spec s;
  s.misshape = "blk.0.attn_k.weight";
  const std::string e = load_error(s);
  EXPECT_NE(e.find("blk.0.attn_k.weight has shape [5, 8], expected [4, 8]"), std::string::npos)
      << e;
}

TEST_F(LlamaModelTest, StepsAfterPrefillEqualALongerPrefillAndTheContextIsEnforced) {
  text::GgufFile f(write(Spec{}));
  LlamaModel m(f);
  const std::vector<int32_t> tokens{3, 1, 4, 1, 5, 9};
  LlamaSession whole(m);
  const auto ref = whole.prefill(tokens);
  LlamaSession stepped(m);
  auto logits = stepped.prefill({3, 1});
  for (std::size_t t = 2; t < tokens.size(); ++t) logits = stepped.step(tokens[t]);
  ASSERT_EQ(logits.size(), ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i) {
    ASSERT_TRUE(std::isfinite(ref[i]));
    EXPECT_NEAR(logits[i], ref[i], 1e-5) << i;
  }
  try {
    stepped.step(2);
    FAIL() << "expected an error";
  } catch (const hybrec::Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama.context_length = 6"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(stepped.length(), 6);  // the failed step changed nothing
}

TEST_F(LlamaModelTest, UsesAnUntiedOutputWeight) {
  Spec s;
  s.untied = true;
  std::vector<float> out_w;
  text::GgufFile f(write(s, &out_w));
  LlamaModel m(f);
  EXPECT_FALSE(m.tied_embeddings());
  EXPECT_EQ(m.output().data, f.tensor("output.weight").data);
  LlamaSession session(m);
  const auto logits = session.prefill({2});
  EXPECT_EQ(logits.size(), kVocab);
}

}  // namespace
}  // namespace hybrec::llm
