// Continuation scoring (trainer/llm/continuation_score.h) and the
// LlamaSession call it rests on (extend_branches): on a tiny random Llama
// written by the test, against a plain step-by-step run of the same session
// type; and on the real SmolLM2-135M-Instruct (skipped when
// scripts/get-smollm2.sh has not placed it in models/), where a sensible
// continuation must outscore a nonsense one.
#include "trainer/llm/continuation_score.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "testing/gguf_bytes.h"
#include "testing/temp_dir.h"
#include "testing/tiny_llama.h"
#include "trainer/llm/llama_model.h"
#include "trainer/text/bpe_tokenizer.h"
#include "trainer/text/gguf.h"

namespace hybrec::llm {
namespace {

using hybrec::testing::error_of;

// log softmax(logits)[token], written out plainly in double.
double reference_log_softmax(const std::vector<float>& logits, int32_t token) {
  double sum = 0.0;
  for (float v : logits) sum += std::exp(static_cast<double>(v));
  return static_cast<double>(logits[static_cast<std::size_t>(token)]) - std::log(sum);
}

// log P(c | prefix) from a fresh session: prefill the prefix, then one step
// per token of c.
double step_by_step(const LlamaModel& model, const std::vector<int32_t>& prefix,
                    const std::vector<int32_t>& c) {
  LlamaSession s(model);
  std::vector<float> logits = s.prefill(prefix);
  double sum = 0.0;
  for (std::size_t k = 0; k < c.size(); ++k) {
    sum += reference_log_softmax(logits, c[k]);
    if (k + 1 < c.size()) logits = s.step(c[k]);
  }
  return sum;
}

class TinyContinuation : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinyLlamaSpec spec;
    spec.context = 8;
    const std::string bytes = testing::tiny_llama_gguf(spec);
    std::ofstream(path_, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    file_ = std::make_unique<text::GgufFile>(path_);
    model_ = std::make_unique<LlamaModel>(*file_);
  }

  hybrec::testing::TempDir dir_{"hybrec-continuation"};
  std::string path_ = dir_ / "tiny.gguf";
  std::unique_ptr<text::GgufFile> file_;
  std::unique_ptr<LlamaModel> model_;
};

TEST_F(TinyContinuation, EachBranchGetsTheLogitsOfItsOwnSteps) {
  const std::vector<int32_t> prefix{3, 1};
  const std::vector<std::vector<int32_t>> branches{{4, 1, 5}, {2}, {6, 0}};
  LlamaSession session(*model_);
  session.prefill(prefix);
  const std::vector<float> got = session.extend_branches(branches);
  const int64_t vocab = model_->config().vocab;
  ASSERT_EQ(static_cast<int64_t>(got.size()), 6 * vocab);
  int64_t row = 0;
  for (const auto& branch : branches) {
    LlamaSession alone(*model_);
    alone.prefill(prefix);
    for (int32_t token : branch) {
      const std::vector<float> want = alone.step(token);
      for (int64_t v = 0; v < vocab; ++v) {
        EXPECT_NEAR(got[row * vocab + v], want[v], 1e-5) << "row " << row << " token " << v;
      }
      ++row;
    }
  }
  // The cache holds the prefix as before: the next step is the prefix's.
  EXPECT_EQ(session.length(), 2);
  const std::vector<float> next = session.step(7);
  LlamaSession fresh(*model_);
  const std::vector<float> want = fresh.prefill({3, 1, 7});
  for (int64_t v = 0; v < vocab; ++v) EXPECT_NEAR(next[v], want[v], 1e-5) << v;
}

TEST_F(TinyContinuation, BadBranchesAreNamed) {
  LlamaSession s(*model_);
  s.prefill({1, 2, 3, 4});
  EXPECT_NE(error_of([&] {
              s.extend_branches({{1}, {}});
            }).find("branch 1 has no tokens"),
            std::string::npos);
  EXPECT_NE(error_of([&] { s.extend_branches({}); }).find("no branches"), std::string::npos);
  // Context 8: 4 cached tokens and a branch of 5 need 9 positions.
  const std::string e = error_of([&] { s.extend_branches({{1}, {1, 2, 3, 4, 5}}); });
  EXPECT_NE(e.find("branch 1 of 5 tokens after 4 exceeds the context length 8"), std::string::npos)
      << e;
  EXPECT_EQ(s.length(), 4);
}

TEST_F(TinyContinuation, ScoresEqualStepByStepLogSoftmaxSums) {
  const std::vector<int32_t> prefix{3, 1, 4};
  const std::vector<std::vector<int32_t>> candidates{{1}, {5, 9}, {2, 6, 5}, {0, 0, 0, 7, 8}};
  LlamaSession session(*model_);
  const auto scores = score_continuations(session, prefix, candidates);
  ASSERT_EQ(scores.size(), candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const double want = step_by_step(*model_, prefix, candidates[i]);
    EXPECT_NEAR(scores[i].logprob, want, 1e-3) << "candidate " << i;
    EXPECT_LT(scores[i].logprob, 0.0);
    EXPECT_EQ(scores[i].tokens, static_cast<int64_t>(candidates[i].size()));
    EXPECT_DOUBLE_EQ(scores[i].mean(),
                     scores[i].logprob / static_cast<double>(candidates[i].size()));
  }
  EXPECT_EQ(session.length(), 3);  // left holding the prefix
}

TEST_F(TinyContinuation, ACandidateDoesNotSeeTheOthers) {
  const std::vector<int32_t> prefix{2, 7};
  LlamaSession a(*model_), b(*model_);
  const auto forward = score_continuations(a, prefix, {{4, 4, 4}, {1, 5}});
  const auto backward = score_continuations(b, prefix, {{1, 5}, {4, 4, 4}});
  EXPECT_NEAR(forward[0].logprob, backward[1].logprob, 1e-6);
  EXPECT_NEAR(forward[1].logprob, backward[0].logprob, 1e-6);
  EXPECT_NEAR(forward[0].logprob, step_by_step(*model_, prefix, {4, 4, 4}), 1e-3);
}

TEST_F(TinyContinuation, ManyCandidatesRunInSeveralForwards) {
  // 70 candidates of 5 tokens: 280 branch tokens, over kBranchTokens.
  static_assert(70 * 4 > kBranchTokens, "the test must need two forwards");
  const std::vector<int32_t> prefix{8, 3, 1};
  std::vector<std::vector<int32_t>> candidates;
  for (int32_t i = 0; i < 70; ++i) {
    candidates.push_back({i % 10, (i / 10) % 10, (3 * i) % 10, (7 * i + 1) % 10, i % 7});
  }
  LlamaSession session(*model_);
  const auto scores = score_continuations(session, prefix, candidates);
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    EXPECT_NEAR(scores[i].logprob, step_by_step(*model_, prefix, candidates[i]), 1e-3) << i;
  }
}

TEST_F(TinyContinuation, BadCandidatesAreNamed) {
  LlamaSession s(*model_);
  EXPECT_NE(error_of([&] {
              score_continuations(s, {1, 2}, {{3}, {}});
            }).find("candidate 1 has no tokens"),
            std::string::npos);
  // Context 8: a prefix of 4 and a candidate of 6 tokens needs 9 positions.
  const std::string e = error_of([&] {
    score_continuations(s, {1, 2, 3, 4}, {{1}, {1, 2, 3, 4, 5, 6}});
  });
  EXPECT_NE(
      e.find("candidate 1 (6 tokens) after a prefix of 4 tokens exceeds the context length 8"),
      std::string::npos)
      << e;
  EXPECT_NE(error_of([] { log_softmax_at(nullptr, 3, 7); }).find("token id 7"), std::string::npos);
  EXPECT_TRUE(score_continuations(s, {1}, {}).empty());
}

const std::string kSmolLM2 =
    std::string(HYBREC_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

class SmolLM2Continuation : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(kSmolLM2)) return;
    file_ = new text::GgufFile(kSmolLM2);
    model_ = new LlamaModel(*file_);
    tokenizer_ = new text::BpeTokenizer(text::BpeTokenizer::from_gguf(*file_));
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete model_;
    delete file_;
  }
  void SetUp() override {
    if (file_ == nullptr)
      GTEST_SKIP() << "no SmolLM2 at " << kSmolLM2 << " (run scripts/get-smollm2.sh)";
  }
  static std::vector<int32_t> ids(const std::string& s) { return tokenizer_->encode(s); }

  static text::GgufFile* file_;
  static LlamaModel* model_;
  static text::BpeTokenizer* tokenizer_;
};

text::GgufFile* SmolLM2Continuation::file_ = nullptr;
LlamaModel* SmolLM2Continuation::model_ = nullptr;
text::BpeTokenizer* SmolLM2Continuation::tokenizer_ = nullptr;

TEST_F(SmolLM2Continuation, ASensibleContinuationOutscoresNonsense) {
  const auto prefix = ids("The capital of France is");
  const std::vector<std::vector<int32_t>> candidates{ids(" Paris."), ids(" a purple bicycle.")};
  LlamaSession session(*model_);
  const auto scores = score_continuations(session, prefix, candidates);
  EXPECT_GT(scores[0].mean(), scores[1].mean() + 1.0)
      << scores[0].mean() << " vs " << scores[1].mean();
  EXPECT_GT(scores[0].logprob, scores[1].logprob);
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    EXPECT_NEAR(scores[i].logprob, step_by_step(*model_, prefix, candidates[i]), 1e-3) << i;
  }
}

}  // namespace
}  // namespace hybrec::llm
