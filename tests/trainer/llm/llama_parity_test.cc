// Parity of the Llama decoder with llama.cpp on the real SmolLM2-135M-Instruct
// Q4_1: fixtures/llama_parity.json, written by fixtures/make_llama_fixtures.py
// through llama-cpp-python, holds 8 prompts (English, a ChatML chat prompt
// from the model's template, Chinese, emoji, code, whitespace runs, a
// numbered list, ~200 tokens of prose) with llama.cpp's token ids, its greedy
// continuation of 32 tokens (with the best logit and the gap to the
// runner-up at each step) and its logits after the prompt (the 64 largest
// and every 1000th id), plus how far llama.cpp is from itself under other
// options (self_check). Checked here:
// - hybrec's tokenizer gives llama.cpp's ids, its chat template the text;
// - the logits after each prompt are within kLogitTolerance;
// - fed llama.cpp's continuation, hybrec picks llama.cpp's next token at
//   every step that is not a near-tie (gap >= kTieMargin), and the logit of
//   llama.cpp's token is within kLogitTolerance at every step;
// - free-running greedy decoding gives llama.cpp's 32 tokens, or the same
//   tokens up to a near-tie.
// Not asserted: 32 identical tokens on every prompt. llama.cpp itself does
// not give them: with flash attention, a prompt fed token by token or an
// F32 KV cache its continuations split from its defaults on 3 or 4 of the 8
// prompts, at near-ties, and hybrec's split at the same steps.
// Skipped when the model is absent (scripts/get-smollm2.sh).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "trainer/llm/llama_model.h"
#include "trainer/llm/sampler.h"
#include "trainer/text/bpe_tokenizer.h"
#include "trainer/text/gguf.h"

namespace hybrec::llm {
namespace {

const std::string kModel =
    std::string(HYBREC_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
const std::string kFixture =
    std::string(HYBREC_SOURCE_DIR) + "/tests/trainer/llm/fixtures/llama_parity.json";

// Largest |hybrec - llama.cpp| allowed on a stored logit, and the gap
// between llama.cpp's best two logits below which the next token is a
// near-tie. SmolLM2 with int8 activations is chaotic at the last bit: any
// change of summation order moves some activation across a rounding
// boundary and the logits (O(10)) by a few tenths. llama.cpp differs from
// itself by that much: its flash-attention, token-by-token-prompt and
// F32-KV-cache variants (the fixture's self_check) reach 0.43-0.66 after the
// prompts and split from its defaults at gaps of 0.04-0.14. Measured for
// hybrec: 0.53 after the prompts, 0.58 over the teacher-forced steps,
// splits at gaps of 0.06-0.14 (the same steps as flash attention's). With
// RoPE's base doubled the teacher-forced logits go past 0.8.
constexpr double kLogitTolerance = 0.8;
constexpr double kTieMargin = 0.5;

class LlamaParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(kModel)) return;
    file_ = new text::GgufFile(kModel);
    model_ = new LlamaModel(*file_);
    tokenizer_ = new text::BpeTokenizer(text::BpeTokenizer::from_gguf(*file_));
    std::ifstream in(kFixture);
    fixture_ = new nlohmann::json(nlohmann::json::parse(in));
  }
  static void TearDownTestSuite() {
    delete fixture_;
    delete tokenizer_;
    delete model_;
    delete file_;
  }
  void SetUp() override {
    if (file_ == nullptr) {
      GTEST_SKIP() << "no SmolLM2 at " << kModel << " (run scripts/get-smollm2.sh)";
    }
  }

  static text::GgufFile* file_;
  static LlamaModel* model_;
  static text::BpeTokenizer* tokenizer_;
  static nlohmann::json* fixture_;
};

text::GgufFile* LlamaParity::file_ = nullptr;
LlamaModel* LlamaParity::model_ = nullptr;
text::BpeTokenizer* LlamaParity::tokenizer_ = nullptr;
nlohmann::json* LlamaParity::fixture_ = nullptr;

TEST_F(LlamaParity, FixtureCoversTheEightPrompts) {
  const auto& cases = (*fixture_)["cases"];
  ASSERT_EQ(cases.size(), 8u);
  EXPECT_EQ((*fixture_)["model"], "SmolLM2-135M-Instruct.Q4_1.gguf");
  for (const auto& c : cases) {
    EXPECT_EQ(c["continuation"].size(), 32u) << c["name"];
    EXPECT_EQ(c["top_logits"].size(), 64u) << c["name"];
  }
  EXPECT_GE(cases[7]["prompt_ids"].size(), 180u) << "the long prompt";
}

TEST_F(LlamaParity, TokenizerAndChatTemplateGiveLlamaCppsIds) {
  for (const auto& c : (*fixture_)["cases"]) {
    const std::string text = c["text"];
    if (c["chat"]) {
      std::vector<text::ChatMessage> messages;
      for (const auto& m : c["messages"]) messages.push_back({m["role"], m["content"]});
      EXPECT_EQ(tokenizer_->chat_prompt(messages, true), text);
    }
    EXPECT_EQ(tokenizer_->encode(text), c["prompt_ids"].get<std::vector<int32_t>>()) << c["name"];
  }
}

// Largest |hybrec - llama.cpp| over the stored ids of one prompt's logits.
double worst_logit_diff(const nlohmann::json& c, const std::vector<float>& logits) {
  double worst = 0.0;
  for (const char* key : {"top_logits", "strided_logits"}) {
    for (const auto& pair : c[key]) {
      const auto id = pair[0].get<std::size_t>();
      worst = std::max(worst, std::fabs(logits[id] - pair[1].get<double>()));
    }
  }
  return worst;
}

TEST_F(LlamaParity, LogitsAfterThePromptAreWithinTolerance) {
  double worst = 0.0;
  for (const auto& c : (*fixture_)["cases"]) {
    LlamaSession session(*model_);
    const double diff = worst_logit_diff(c, session.prefill(c["prompt_ids"]));
    EXPECT_LE(diff, kLogitTolerance) << c["name"];
    worst = std::max(worst, diff);
    std::cout << "[ parity ] " << c["name"].get<std::string>() << ": " << c["prompt_ids"].size()
              << " prompt tokens, max |logit diff| " << diff << "\n";
  }
  std::cout << "[ parity ] max |logit diff| over the 8 prompts: " << worst
            << " (llama.cpp's own variants: ";
  for (const auto& [name, v] : (*fixture_)["self_check"].items()) {
    std::cout << name << " " << v["max_logit_diff"].get<double>() << " ";
  }
  std::cout << ")\n";
}

// Fed llama.cpp's continuation token by token, hybrec's best next token is
// llama.cpp's at every step where llama.cpp's best two logits are more than
// kTieMargin apart.
TEST_F(LlamaParity, TeacherForcedNextTokensAgreeExceptAtNearTies) {
  int steps = 0, agree = 0, decided = 0;
  double worst = 0.0;  // |logit of llama.cpp's token - llama.cpp's|
  for (const auto& c : (*fixture_)["cases"]) {
    const auto want = c["continuation"].get<std::vector<int32_t>>();
    const auto gaps = c["gaps"].get<std::vector<double>>();
    const auto best = c["best_logit"].get<std::vector<double>>();
    LlamaSession session(*model_);
    std::vector<float> logits = session.prefill(c["prompt_ids"]);
    for (std::size_t k = 0; k < want.size(); ++k) {
      const int32_t got = argmax(logits);
      ++steps;
      agree += got == want[k];
      if (gaps[k] >= kTieMargin) {
        ++decided;
        EXPECT_EQ(got, want[k]) << c["name"] << " step " << k << ", llama.cpp's gap " << gaps[k];
      }
      const double diff = std::fabs(logits[static_cast<std::size_t>(want[k])] - best[k]);
      worst = std::max(worst, diff);
      EXPECT_LE(diff, kLogitTolerance) << c["name"] << " step " << k;
      if (k + 1 < want.size()) logits = session.step(want[k]);
    }
  }
  std::cout << "[ parity ] teacher-forced: hybrec's argmax is llama.cpp's at " << agree << " of "
            << steps << " steps; " << decided << " steps have a gap >= " << kTieMargin
            << " (llama.cpp's own variants agree at: ";
  for (const auto& [name, v] : (*fixture_)["self_check"].items()) {
    std::cout << name << " " << v["teacher_forced_agreement"][0].get<int>() << " ";
  }
  std::cout << "); max |logit diff| of llama.cpp's token over the steps " << worst << "\n";
}

// Free-running greedy decoding: the same 32 tokens, or the same tokens up to
// a step where llama.cpp's best two logits are within kTieMargin (where its
// own variants split too: the fixture's self_check).
TEST_F(LlamaParity, GreedyContinuationsMatchUpToANearTie) {
  int identical = 0;
  for (const auto& c : (*fixture_)["cases"]) {
    const std::string name = c["name"];
    const auto prompt = c["prompt_ids"].get<std::vector<int32_t>>();
    LlamaSession session(*model_);
    SamplerConfig greedy;
    greedy.max_new_tokens = 32;
    Sampler sampler(greedy);
    const auto got =
        generate(
            session.prefill(prompt), [&](int32_t t) { return session.step(t); }, &sampler, prompt)
            .tokens;
    const auto want = c["continuation"].get<std::vector<int32_t>>();
    const auto gaps = c["gaps"].get<std::vector<double>>();
    ASSERT_EQ(got.size(), want.size()) << name;
    const auto split = static_cast<std::size_t>(
        std::mismatch(got.begin(), got.end(), want.begin()).first - got.begin());
    if (split == want.size()) {
      ++identical;
      std::cout << "[ parity ] " << name << ": 32 of 32 tokens identical\n";
      continue;
    }
    std::cout << "[ parity ] " << name << ": identical for " << split
              << " tokens, then a near-tie (llama.cpp's gap " << gaps[split] << ")\n";
    EXPECT_LT(gaps[split], kTieMargin) << name << " splits from llama.cpp at step " << split;
  }
  std::cout << "[ parity ] " << identical << " of 8 continuations identical for 32 tokens\n";
}

}  // namespace
}  // namespace hybrec::llm
