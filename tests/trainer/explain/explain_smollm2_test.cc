// explain() end to end on hand-made texts and weights with the real
// SmolLM2-135M-Instruct (skipped when scripts/get-smollm2.sh has not placed
// it in models/): the aspects are those worked out in aspects_test.cc, the
// sentence is one non-empty sentence, and a user without history gets none.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "trainer/explain/explanation.h"

namespace hybrec::explain {
namespace {

const std::string kModel =
    std::string(HYBREC_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

class ExplainSmolLM2 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::filesystem::exists(kModel)) gen_ = new llm::TextGenerator(kModel);
  }
  static void TearDownTestSuite() { delete gen_; }
  void SetUp() override {
    if (gen_ == nullptr) {
      GTEST_SKIP() << "no SmolLM2 at " << kModel << " (run scripts/get-smollm2.sh)";
    }
  }
  static llm::TextGenerator* gen_;
};

llm::TextGenerator* ExplainSmolLM2::gen_ = nullptr;

ExplainSubject subject() {
  ExplainSubject s;
  s.history_texts = {"The Detectives: mystery in the city", "Harbor Lights: a quiet mystery",
                     "Deep Ocean: ocean storms and whales"};  // oldest first
  s.weights = {0.25f, 0.25f, 0.5f};
  s.item_text = "Moonlight Harbor: quiet ocean mystery with detectives and ocean storms";
  return s;
}

void expect_one_sentence(const Explanation& e) {
  // The response is started for the model; it must go on from there.
  EXPECT_EQ(e.sentence.rfind("You may like Moonlight Harbor because ", 0), 0u) << e.generated;
  EXPECT_GT(e.sentence.size(), std::string("You may like Moonlight Harbor because ").size() + 4)
      << e.generated;
  EXPECT_EQ(e.sentence.find('\n'), std::string::npos);
  EXPECT_NE(e.generated.find(e.sentence), std::string::npos);
  EXPECT_GT(e.prompt_tokens, 0);
  EXPECT_GE(e.generated_tokens, 1);
  EXPECT_LE(e.generated_tokens, 40);
  EXPECT_GT(e.decode_s, 0.0);
}

TEST_F(ExplainSmolLM2, WritesOneSentenceWithTheAttendedAspects) {
  const Explanation e = explain(subject(), *gen_, ExplainOptions{});
  EXPECT_EQ(e.aspects, (std::vector<std::string>{"ocean", "mystery", "storms"}));
  EXPECT_FALSE(e.no_history);
  expect_one_sentence(e);
  // Greedy: the same subject, the same sentence.
  EXPECT_EQ(explain(subject(), *gen_, ExplainOptions{}).sentence, e.sentence);
}

TEST_F(ExplainSmolLM2, AUserWithoutHistoryGetsNoAspects) {
  ExplainSubject s = subject();
  s.history_texts.clear();
  s.weights.clear();
  const Explanation e = explain(s, *gen_, ExplainOptions{});
  EXPECT_TRUE(e.no_history);
  EXPECT_TRUE(e.aspects.empty());
  expect_one_sentence(e);
}

}  // namespace
}  // namespace hybrec::explain
