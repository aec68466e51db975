// TextGenerator: the prompt cut on hand-made ids (unit), and generation on
// the real SmolLM2-135M-Instruct that scripts/get-smollm2.sh places in
// models/ (skipped when it is absent): greedy answers, token counts, the
// left cut that keeps the chat template's head and tail (with a response
// prefix), the newline stop, seeded sampling, and thread counts that do not
// change greedy text.
#include "trainer/llm/text_generator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "testing/gguf_bytes.h"

namespace hybrec::llm {
namespace {

using hybrec::testing::error_of;

TEST(CutPrompt, APromptThatFitsIsKeptWhole) {
  const PromptCut c = cut_prompt({1, 2}, {10, 11, 12}, {8, 9}, 7);
  EXPECT_EQ(c.tokens, (std::vector<int32_t>{1, 2, 10, 11, 12, 8, 9}));
  EXPECT_FALSE(c.truncated);
  EXPECT_EQ(c.dropped, 0);
}

TEST(CutPrompt, TheBodyLosesItsOldestTokensAndHeadAndTailStay) {
  const std::vector<int32_t> body = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  const PromptCut c = cut_prompt({1, 2}, body, {8, 9}, 7);
  EXPECT_EQ(c.tokens, (std::vector<int32_t>{1, 2, 17, 18, 19, 8, 9}));
  EXPECT_TRUE(c.truncated);
  EXPECT_EQ(c.dropped, 7);
}

TEST(CutPrompt, WhenHeadAndTailLeaveNoRoomTheLastTokensAreKept) {
  const PromptCut c = cut_prompt({1, 2, 3}, {4}, {5, 6}, 3);
  EXPECT_EQ(c.tokens, (std::vector<int32_t>{4, 5, 6}));
  EXPECT_TRUE(c.truncated);
  EXPECT_EQ(c.dropped, 3);
  const PromptCut plain = cut_prompt({}, {1, 2, 3, 4, 5}, {}, 2);
  EXPECT_EQ(plain.tokens, (std::vector<int32_t>{4, 5}));
  EXPECT_EQ(plain.dropped, 3);
}

TEST(CutPrompt, ABudgetBelowOneIsAnError) {
  EXPECT_NE(error_of([] { cut_prompt({}, {1}, {}, 0); }).find("prompt budget 0"),
            std::string::npos);
}

const std::string kModel =
    std::string(HYBREC_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

class SmolLM2Generator : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::filesystem::exists(kModel)) gen_ = new TextGenerator(kModel);
  }
  static void TearDownTestSuite() { delete gen_; }
  void SetUp() override {
    if (gen_ == nullptr) {
      GTEST_SKIP() << "no SmolLM2 at " << kModel << " (run scripts/get-smollm2.sh)";
    }
  }
  static GenerateOptions greedy(int64_t max_tokens) {
    GenerateOptions o;
    o.max_tokens = max_tokens;
    return o;
  }
  static TextGenerator* gen_;
};

TextGenerator* SmolLM2Generator::gen_ = nullptr;

TEST_F(SmolLM2Generator, GreedyAnswersAndCountsItsTokens) {
  const std::vector<text::ChatMessage> chat = {
      {"user", "What is the capital of France? Answer with the city name only."}};
  const GenerateResult r = gen_->generate_chat(chat, greedy(8));
  EXPECT_NE(r.text.find("Paris"), std::string::npos) << r.text;
  const auto prompt = gen_->tokenizer().encode(gen_->tokenizer().chat_prompt(chat, true));
  EXPECT_EQ(r.prompt_tokens, static_cast<int64_t>(prompt.size()));
  EXPECT_FALSE(r.truncated);
  EXPECT_GE(r.generated_tokens, 1);
  EXPECT_LE(r.generated_tokens, 8);
  EXPECT_GT(r.prefill_s, 0.0);
  EXPECT_GT(r.decode_s, 0.0);
  EXPECT_EQ(gen_->generate_chat(chat, greedy(8)).text, r.text);
  // The stop token is not part of the text.
  EXPECT_EQ(r.text.find("<|im_end|>"), std::string::npos);
}

TEST_F(SmolLM2Generator, ALongChatPromptLosesTheStartOfItsLastMessageOnly) {
  std::string content;
  for (int i = 0; i < 200; ++i) content += "word" + std::to_string(i) + " ";
  content += "Now say hello.";
  const std::vector<text::ChatMessage> chat = {{"system", "Be brief."}, {"user", content}};
  GenerateOptions o = greedy(4);
  o.max_prompt_tokens = 48;
  o.response_prefix = "Sure:";
  const PromptCut cut = gen_->chat_tokens(chat, o);
  ASSERT_EQ(cut.tokens.size(), 48u);
  EXPECT_TRUE(cut.truncated);
  const text::BpeTokenizer& tok = gen_->tokenizer();
  const auto all = tok.encode(tok.chat_prompt(chat, true) + "Sure:");
  const auto head = tok.encode("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n");
  const auto tail = tok.encode("<|im_end|>\n<|im_start|>assistant\nSure:");
  EXPECT_EQ(cut.dropped, static_cast<int64_t>(all.size()) - 48);
  EXPECT_EQ(std::vector<int32_t>(cut.tokens.begin(), cut.tokens.begin() + head.size()), head);
  EXPECT_EQ(std::vector<int32_t>(cut.tokens.end() - tail.size(), cut.tokens.end()), tail);
  // What stays of the content is its end.
  const std::string kept = tok.decode(
      std::vector<int32_t>(cut.tokens.begin() + head.size(), cut.tokens.end() - tail.size()));
  EXPECT_EQ(kept.substr(kept.size() - 14), "Now say hello.");
  EXPECT_EQ(kept.find("word0 "), std::string::npos);

  const GenerateResult r = gen_->generate_chat(chat, o);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.prompt_tokens, 48);
  EXPECT_EQ(r.dropped_tokens, cut.dropped);
}

TEST_F(SmolLM2Generator, APlainPromptKeepsItsLastTokens) {
  GenerateOptions o = greedy(2);
  o.max_prompt_tokens = 16;
  const std::string prompt =
      "one two three four five six seven eight nine ten eleven twelve "
      "thirteen fourteen fifteen sixteen seventeen eighteen";
  const auto ids = gen_->tokenizer().encode(prompt);
  ASSERT_GT(ids.size(), 16u);
  const GenerateResult r = gen_->generate_text(prompt, o);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.prompt_tokens, 16);
  EXPECT_EQ(r.dropped_tokens, static_cast<int64_t>(ids.size()) - 16);
  // The context bounds the budget: max_tokens must leave room.
  o.max_tokens = gen_->model().config().context_length;
  EXPECT_NE(error_of([&] { gen_->generate_text(prompt, o); }).find("max_tokens"),
            std::string::npos);
}

TEST_F(SmolLM2Generator, StopsAtTheFirstNewlineAfterSomeText) {
  GenerateOptions o = greedy(24);
  o.stop_at_newline = true;
  const GenerateResult r = gen_->generate_text("Shopping list:\n1. apples\n2. pears\n3.", o);
  EXPECT_EQ(r.stop, "newline") << r.text;
  EXPECT_EQ(r.text.find('\n'), std::string::npos) << r.text;
  EXPECT_FALSE(r.text.empty());
  o.stop_at_newline = false;
  const GenerateResult on = gen_->generate_text("Shopping list:\n1. apples\n2. pears\n3.", o);
  EXPECT_NE(on.text.find('\n'), std::string::npos) << on.text;
  EXPECT_EQ(on.text.substr(0, r.text.size()), r.text);
}

TEST_F(SmolLM2Generator, SeededSamplingRepeatsAndSeedsDiffer) {
  const std::vector<text::ChatMessage> chat = {{"user", "Write a short line about the sea."}};
  GenerateOptions o = greedy(8);
  o.sampling.temperature = 1.0f;
  o.sampling.top_k = 50;
  o.sampling.top_p = 0.95f;
  o.sampling.seed = 7;
  const std::string first = gen_->generate_chat(chat, o).text;
  EXPECT_EQ(gen_->generate_chat(chat, o).text, first);
  int differ = 0;
  for (uint64_t seed : {8, 9}) {
    o.sampling.seed = seed;
    differ += gen_->generate_chat(chat, o).text != first ? 1 : 0;
  }
  EXPECT_GE(differ, 1);
}

// "Prompt prefix": a prompt sharing its start with the previous one runs
// only the rest, and writes what it would have written without the cache.
TEST_F(SmolLM2Generator, APromptReusesThePreviousPromptsPrefixAndWritesTheSame) {
  const std::vector<text::ChatMessage> first = {{"system", "You answer in one word."},
                                                {"user", "Name a colour."}};
  const std::vector<text::ChatMessage> second = {{"system", "You answer in one word."},
                                                 {"user", "Name a fruit."}};
  GenerateOptions cold = greedy(6);
  cold.reuse_prompt_prefix = false;
  const GenerateResult want_first = gen_->generate_chat(first, cold);
  const GenerateResult want_second = gen_->generate_chat(second, cold);
  EXPECT_EQ(want_first.reused_prompt_tokens, 0);

  const GenerateOptions warm = greedy(6);
  gen_->generate_chat(first, warm);  // the cache now holds the first prompt
  const GenerateResult again = gen_->generate_chat(first, warm);
  EXPECT_EQ(again.reused_prompt_tokens, again.prompt_tokens - 1);  // the last is always run
  EXPECT_EQ(again.text, want_first.text);

  const PromptCut a = gen_->chat_tokens(first, warm), b = gen_->chat_tokens(second, warm);
  const auto shared =
      std::mismatch(a.tokens.begin(), a.tokens.end(), b.tokens.begin()).first - a.tokens.begin();
  ASSERT_GT(shared, 5) << "the two prompts share the system message";
  const GenerateResult other = gen_->generate_chat(second, warm);
  EXPECT_EQ(other.reused_prompt_tokens, shared);
  EXPECT_EQ(other.text, want_second.text);
  EXPECT_EQ(other.generated_tokens, want_second.generated_tokens);
}

TEST_F(SmolLM2Generator, TheThreadCountDoesNotChangeGreedyText) {
  const std::vector<text::ChatMessage> chat = {{"user", "Name three colours."}};
  GenerateOptions o = greedy(10);
  o.threads = 1;
  const std::string one = gen_->generate_chat(chat, o).text;
  o.threads = 2;
  EXPECT_EQ(gen_->generate_chat(chat, o).text, one);
}

}  // namespace
}  // namespace hybrec::llm
