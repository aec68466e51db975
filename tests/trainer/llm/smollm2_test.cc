// The Llama decoder on the real SmolLM2-135M-Instruct (Q4_1 weights, Q8_0
// embedding) that scripts/get-smollm2.sh places in models/. Skipped when the
// model is absent. There is no tokenizer here: prompts are built from the
// vocabulary's GPT-2 byte-level strings ("Ġ", U+0120, is a leading space),
// each word looked up in tokenizer.ggml.tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "hybrec/kernels/error.h"
#include "trainer/llm/llama_model.h"
#include "trainer/llm/sampler.h"
#include "trainer/text/gguf.h"

namespace hybrec::llm {
namespace {

const std::string kModel =
    std::string(HYBREC_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

class SmolLM2 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(kModel)) return;
    file_ = new text::GgufFile(kModel);
    model_ = new LlamaModel(*file_);
    const auto tokens = file_->get_string_array("tokenizer.ggml.tokens");
    vocab_ = new std::unordered_map<std::string, int32_t>();
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      vocab_->emplace(tokens[i], static_cast<int32_t>(i));
    }
  }
  static void TearDownTestSuite() {
    delete vocab_;
    delete model_;
    delete file_;
  }
  void SetUp() override {
    if (file_ == nullptr) {
      GTEST_SKIP() << "no SmolLM2 at " << kModel << " (run scripts/get-smollm2.sh)";
    }
  }

  // "Ġ" + word for a leading space; every piece must be one vocabulary entry.
  static std::vector<int32_t> ids(const std::vector<std::string>& pieces) {
    std::vector<int32_t> out;
    for (const auto& p : pieces) {
      const auto it = vocab_->find(p);
      EXPECT_NE(it, vocab_->end()) << "\"" << p << "\" is not in tokenizer.ggml.tokens";
      if (it != vocab_->end()) out.push_back(it->second);
    }
    return out;
  }
  static int32_t id(const std::string& piece) { return ids({piece}).at(0); }

  static text::GgufFile* file_;
  static LlamaModel* model_;
  static std::unordered_map<std::string, int32_t>* vocab_;
};

text::GgufFile* SmolLM2::file_ = nullptr;
LlamaModel* SmolLM2::model_ = nullptr;
std::unordered_map<std::string, int32_t>* SmolLM2::vocab_ = nullptr;

const std::string G = "\xC4\xA0";  // U+0120 in UTF-8

TEST_F(SmolLM2, ConfigComesFromTheFile) {
  const LlamaConfig& c = model_->config();
  EXPECT_EQ(c.layers, 30);
  EXPECT_EQ(c.dim, 576);
  EXPECT_EQ(c.heads, 9);
  EXPECT_EQ(c.kv_heads, 3);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.ffn, 1536);
  EXPECT_EQ(c.vocab, 49152);
  EXPECT_GT(c.context_length, 0);
  EXPECT_TRUE(model_->tied_embeddings());
  EXPECT_EQ(model_->token_embedding().type, kernels::QuantType::kQ8_0);
  EXPECT_EQ(model_->layers()[0].q.type, kernels::QuantType::kQ4_1);
}

struct Fact {
  std::vector<std::string> prompt;
  std::string answer;
};

TEST_F(SmolLM2, GreedyCompletesFacts) {
  const std::vector<Fact> facts = {
      {{"The", G + "capital", G + "of", G + "France", G + "is"}, G + "Paris"},
      {{"One", ",", G + "two", ",", G + "three", ","}, G + "four"},
      {{"A", ",", G + "B", ",", G + "C", ",", G + "D", ","}, G + "E"},
      {{"The", G + "capital", G + "of", G + "Germany", G + "is"}, G + "Berlin"},
  };
  LlamaSession session(*model_);
  for (const auto& f : facts) {
    const auto logits = session.prefill(ids(f.prompt));
    ASSERT_EQ(static_cast<int64_t>(logits.size()), model_->config().vocab);
    for (float v : logits) ASSERT_TRUE(std::isfinite(v));
    EXPECT_EQ(argmax(logits), id(f.answer)) << "prompt ending \"" << f.prompt.back() << "\"";
  }
  // Not a constant answer: Germany's capital is not Paris.
  const auto germany = session.prefill(ids(facts[3].prompt));
  EXPECT_NE(argmax(germany), id(G + "Paris"));
}

TEST_F(SmolLM2, StepAfterPrefillMatchesALongerPrefill) {
  const auto prompt = ids({"The", G + "capital", G + "of", G + "France", G + "is", G + "Paris", ".",
                           G + "The", G + "capital", G + "of", G + "Italy", G + "is"});
  const int64_t n = static_cast<int64_t>(prompt.size());
  LlamaSession stepped(*model_);
  std::vector<int32_t> head(prompt.begin(), prompt.begin() + 4);
  std::vector<float> logits = stepped.prefill(head);
  for (int64_t t = 4; t < n; ++t) logits = stepped.step(prompt[static_cast<std::size_t>(t)]);
  EXPECT_EQ(stepped.length(), n);

  LlamaSession whole(*model_);
  const auto ref = whole.prefill(prompt);
  double worst = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    ASSERT_TRUE(std::isfinite(logits[i]));
    worst = std::max(worst, static_cast<double>(std::fabs(logits[i] - ref[i])));
  }
  EXPECT_LE(worst, 1e-3);
  EXPECT_EQ(argmax(logits), id(G + "Rome"));
}

// The prompt prefix cache (TextGenerator) relies on this: a prompt run in
// two calls, or its prefix copied from another session, gives the same bits
// as one prefill, whatever the split (the products' tiles group tokens by 4).
TEST_F(SmolLM2, APromptSplitAcrossCallsOrCopiedGivesTheSameBits) {
  std::vector<int32_t> prompt;
  for (int32_t t = 0; t < 37; ++t) prompt.push_back(1000 + 7 * t);
  LlamaSession whole(*model_);
  const std::vector<float> want = whole.prefill(prompt);
  for (int64_t split : {1, 3, 4, 5, 16, 36}) {
    LlamaSession two(*model_);
    two.prefill(std::vector<int32_t>(prompt.begin(), prompt.begin() + split));
    EXPECT_EQ(two.extend(std::vector<int32_t>(prompt.begin() + split, prompt.end())), want)
        << "split at " << split;
    LlamaSession copied(*model_, 64);
    copied.copy_prefix_from(whole, split);
    EXPECT_EQ(copied.length(), split);
    EXPECT_EQ(copied.extend(std::vector<int32_t>(prompt.begin() + split, prompt.end())), want)
        << "copied " << split;
  }
  LlamaSession small(*model_, 8);
  EXPECT_THROW(small.copy_prefix_from(whole, 9), Error);
  EXPECT_THROW(small.extend({}), Error);
}

TEST_F(SmolLM2, GreedyGenerationIsDeterministic) {
  const auto prompt = ids({"One", ",", G + "two", ",", G + "three", ","});
  SamplerConfig c;
  c.max_new_tokens = 6;
  auto run = [&] {
    LlamaSession s(*model_);
    Sampler sampler(c);
    return generate(
               s.prefill(prompt), [&](int32_t t) { return s.step(t); }, &sampler, prompt)
        .tokens;
  };
  const auto a = run();
  EXPECT_EQ(a.size(), 6u);
  EXPECT_EQ(a[0], id(G + "four"));
  EXPECT_EQ(a, run());
}

TEST_F(SmolLM2, ContextLimitAndBadTokensThrowNamingThem) {
  LlamaSession s(*model_, 3);
  s.prefill(ids({"One", ",", G + "two"}));
  try {
    s.step(id(","));
    FAIL() << "expected an error";
  } catch (const hybrec::Error& e) {
    EXPECT_NE(std::string(e.what()).find("context length 3"), std::string::npos) << e.what();
  }
  try {
    s.prefill({1, 99999});
    FAIL() << "expected an error";
  } catch (const hybrec::Error& e) {
    EXPECT_NE(std::string(e.what()).find("token id 99999"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hybrec::llm
