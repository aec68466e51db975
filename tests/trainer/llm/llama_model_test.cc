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

namespace hybrec::llm {
namespace {

using hybrec::testing::put;
using hybrec::testing::put_string;


struct Tensor {
  std::string name;
  std::vector<uint64_t> ne;  // ggml order
  std::vector<float> values;
};

// Sizes of the tiny model: dim 8, 2 query heads sharing 1 KV head of 4.
constexpr uint32_t kDim = 8, kHeads = 2, kKvHeads = 1, kFfn = 12, kVocab = 10, kLayers = 2;
constexpr uint32_t kContext = 6;

struct Spec {
  std::string architecture = "llama";
  std::string drop;      // a tensor left out
  std::string misshape;  // a tensor given one extra row
  bool untied = false;   // write output.weight
};

std::string build(const Spec& spec, std::vector<float>* output_weight = nullptr) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> uni(-0.5f, 0.5f);
  auto random = [&](std::size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = uni(rng);
    return v;
  };
  const uint32_t hd = kDim / kHeads;
  std::vector<Tensor> tensors;
  auto add = [&](const std::string& name, uint64_t in, uint64_t out) {
    if (name == spec.drop) return;
    if (name == spec.misshape) ++out;
    std::vector<uint64_t> ne{in};
    if (out > 0) ne.push_back(out);
    tensors.push_back({name, ne, random(in * std::max<uint64_t>(out, 1))});
  };
  add("token_embd.weight", kDim, kVocab);
  add("output_norm.weight", kDim, 0);
  if (spec.untied) add("output.weight", kDim, kVocab);
  for (uint32_t l = 0; l < kLayers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", kDim, 0);
    add(p + "ffn_norm.weight", kDim, 0);
    add(p + "attn_q.weight", kDim, kHeads * hd);
    add(p + "attn_k.weight", kDim, kKvHeads * hd);
    add(p + "attn_v.weight", kDim, kKvHeads * hd);
    add(p + "attn_output.weight", kHeads * hd, kDim);
    add(p + "ffn_gate.weight", kDim, kFfn);
    add(p + "ffn_up.weight", kDim, kFfn);
    add(p + "ffn_down.weight", kFfn, kDim);
  }
  if (output_weight != nullptr && spec.untied) {
    for (const auto& t : tensors)
      if (t.name == "output.weight") *output_weight = t.values;
  }

  std::string b = "GGUF";
  put<uint32_t>(b, 3);
  put<uint64_t>(b, tensors.size());
  const std::vector<std::pair<std::string, uint32_t>> counts = {
      {"llama.block_count", kLayers},         {"llama.embedding_length", kDim},
      {"llama.attention.head_count", kHeads}, {"llama.attention.head_count_kv", kKvHeads},
      {"llama.feed_forward_length", kFfn},    {"llama.context_length", kContext}};
  put<uint64_t>(b, counts.size() + 3);
  put_string(b, "general.architecture");
  put<uint32_t>(b, 8);
  put_string(b, spec.architecture);
  for (const auto& [key, v] : counts) {
    put_string(b, key);
    put<uint32_t>(b, 4);
    put<uint32_t>(b, v);
  }
  put_string(b, "llama.rope.freq_base");
  put<uint32_t>(b, 6);
  put<float>(b, 10000.0f);
  put_string(b, "llama.attention.layer_norm_rms_epsilon");
  put<uint32_t>(b, 6);
  put<float>(b, 1e-5f);
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    put_string(b, t.name);
    put<uint32_t>(b, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) put<uint64_t>(b, d);
    put<uint32_t>(b, 0);  // F32
    put<uint64_t>(b, offset);
    offset += (t.values.size() * 4 + 31) / 32 * 32;
  }
  b.resize((b.size() + 31) / 32 * 32, '\0');
  for (const auto& t : tensors) {
    std::string bytes(t.values.size() * 4, '\0');
    std::memcpy(bytes.data(), t.values.data(), bytes.size());
    bytes.resize((bytes.size() + 31) / 32 * 32, '\0');
    b += bytes;
  }
  return b;
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
