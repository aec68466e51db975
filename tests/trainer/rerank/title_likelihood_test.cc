// The generated term y'_j (trainer/rerank/title_likelihood.h) and its
// prompt (history_prompt.h): the prompt's text, titles cut and cleaned, y'
// against a step-by-step run of the decoder, the cache, a non-UTF-8 title,
// a prompt too long for the context; on a tiny random Llama of vocabulary
// 256 with a byte-per-token vocabulary, and on the real SmolLM2 (skipped
// when scripts/get-smollm2.sh has not placed it in models/).
#include "trainer/rerank/title_likelihood.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "testing/byte_vocab.h"
#include "testing/temp_dir.h"
#include "testing/tiny_llama.h"
#include "trainer/rerank/history_prompt.h"

namespace hybrec::trainer {
namespace {

TEST(HistoryPrompt, ATitleIsTheTextBeforeTheFirstSeparatorWithoutItsYear) {
  EXPECT_EQ(item_title("Toy Story (1995) | Adventure|Animation | pixar"), "Toy Story");
  EXPECT_EQ(item_title("(500) Days of Summer (2009)"), "(500) Days of Summer");
  EXPECT_EQ(item_title("Heat (95)"), "Heat (95)");  // not a year
  EXPECT_EQ(item_title("(1995)"), "(1995)");        // nothing before it
  EXPECT_EQ(item_title("  Heat  "), "Heat");
  EXPECT_EQ(item_title("Two\nlines | x"), "Two lines");
  EXPECT_EQ(item_title(""), "");
  EXPECT_EQ(item_title(" | only tags"), "");
}

TEST(HistoryPrompt, ListsTheTitlesNewestFirstAndEndsWhereATitleBegins) {
  EXPECT_EQ(history_prompt({"Heat (1995)", "Toy Story (1995)"}),
            "Titles this person liked, most recent first:\n"
            "- Heat (1995)\n"
            "- Toy Story (1995)\n"
            "Another title this person will like:\n"
            "-");
  EXPECT_EQ(history_prompt({}),
            "Titles this person liked, most recent first:\n"
            "Another title this person will like:\n"
            "-");
  EXPECT_EQ(title_continuation("Jumanji (1995)"), " Jumanji (1995)\n");
}

// log P(text | prompt) / tokens from a fresh session, one step per token.
double step_by_step_mean(const llm::LlamaModel& model, const text::BpeTokenizer& tok,
                         const std::string& prompt, const std::string& text) {
  llm::LlamaSession s(model);
  std::vector<float> logits = s.prefill(tok.encode(prompt, false));
  const std::vector<int32_t> ids = tok.encode(text, false);
  double sum = 0.0;
  for (std::size_t k = 0; k < ids.size(); ++k) {
    double z = 0.0;
    for (float v : logits) z += std::exp(static_cast<double>(v));
    sum += logits[static_cast<std::size_t>(ids[k])] - std::log(z);
    if (k + 1 < ids.size()) logits = s.step(ids[k]);
  }
  return sum / static_cast<double>(ids.size());
}

class TinyTitleLikelihood : public ::testing::Test {
 protected:
  void load(uint32_t context) {
    testing::TinyLlamaSpec spec;
    spec.vocab = 256;
    spec.context = context;
    const std::string bytes = testing::tiny_llama_gguf(spec);
    std::ofstream(path_, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    file_ = std::make_unique<text::GgufFile>(path_);
    model_ = std::make_unique<llm::LlamaModel>(*file_);
  }
  void SetUp() override { load(512); }

  hybrec::testing::TempDir dir_{"hybrec-title-likelihood"};
  std::string path_ = dir_ / "tiny.gguf";
  std::unique_ptr<text::GgufFile> file_;
  std::unique_ptr<llm::LlamaModel> model_;
  text::BpeTokenizer tok_{testing::byte_vocab()};
  std::vector<std::string> items_{"Alpha | a", "Beta", "", "Gamma (1999) | g", "Abcdefgh", "Abc"};
};

EvalCase case_with(std::vector<int64_t> history) {
  EvalCase c;
  c.history = std::move(history);
  return c;
}

TEST_F(TinyTitleLikelihood, ThePromptHoldsTheNewestTitlesThatExist) {
  TitleLikelihoodOptions o;
  o.history_titles = 2;
  TitleLikelihood term(*model_, tok_, items_, o);
  // Oldest first, -1 padding; item 2 has no title and is passed over.
  EXPECT_EQ(term.prompt_of({-1, 0, 1, 2, 3}), history_prompt({"Gamma", "Beta"}));
  EXPECT_EQ(term.prompt_of({-1, -1}), history_prompt({}));
}

TEST_F(TinyTitleLikelihood, YIsTheMeanLogProbabilityOfTheTitleAfterThePrompt) {
  TitleLikelihood term(*model_, tok_, items_, {});
  const EvalCase c = case_with({1, 0});
  const std::vector<double> y = term.score(c, {3, 0});
  const std::string prompt = history_prompt({"Alpha", "Beta"});
  ASSERT_EQ(y.size(), 2u);
  EXPECT_NEAR(y[0], step_by_step_mean(*model_, tok_, prompt, " Gamma\n"), 1e-4);
  EXPECT_NEAR(y[1], step_by_step_mean(*model_, tok_, prompt, " Alpha\n"), 1e-4);
  EXPECT_EQ(term.stats().prompts, 1);
  EXPECT_EQ(term.stats().candidates, 2);
  EXPECT_EQ(term.stats().candidate_tokens, 7 + 7);
  EXPECT_EQ(term.stats().prompt_tokens, static_cast<int64_t>(prompt.size()));

  // The same case again (another lambda): from the cache, no decoding.
  EXPECT_EQ(term.score(c, {0, 3}), (std::vector<double>{y[1], y[0]}));
  EXPECT_EQ(term.stats().prompts, 1);
  EXPECT_EQ(term.stats().cached, 2);
  // Another history is another prompt.
  term.score(case_with({0, 1}), {3});
  EXPECT_EQ(term.stats().prompts, 2);
}

TEST_F(TinyTitleLikelihood, ANonUtf8TitleIsReplacedNotCrashed) {
  // "Caf\xE9" is Latin-1, not UTF-8: the byte becomes U+FFFD (EF BF BD).
  const std::vector<std::string> items{"Caf\xE9 (1990) | x", "Caf\xEF\xBF\xBD (1990)", "Beta"};
  TitleLikelihood term(*model_, tok_, items, {});
  const std::vector<double> y = term.score(case_with({2}), {0, 1});
  ASSERT_TRUE(std::isfinite(y[0]));
  EXPECT_NEAR(y[0], y[1], 1e-6);  // the same tokens, in different rows of one forward
  // And in the history.
  EXPECT_EQ(term.prompt_of({0}), history_prompt({"Caf\xE9"}));
  EXPECT_TRUE(std::isfinite(term.score(case_with({0}), {2})[0]));
}

TEST_F(TinyTitleLikelihood, ALongTitleIsCutToTitleTokens) {
  TitleLikelihoodOptions o;
  o.title_tokens = 4;  // " Abc" of " Abcdefgh"
  TitleLikelihood term(*model_, tok_, items_, o);
  const std::vector<double> y = term.score(case_with({1}), {4, 5});
  EXPECT_NEAR(y[0], y[1], 1e-6);
  EXPECT_EQ(term.stats().candidate_tokens, 2 * 5);  // " Abc\n" twice
}

TEST_F(TinyTitleLikelihood, APromptTooLongForTheContextLosesItsOldestTitles) {
  load(128);
  // The prompt's fixed text is 83 bytes and " Item number 0N\n" 16: with
  // 128 positions one history title of 17 bytes fits, two do not.
  std::vector<std::string> items;
  for (int i = 0; i < 5; ++i) items.push_back("Item number 0" + std::to_string(i));
  TitleLikelihood term(*model_, tok_, items, {});
  const std::vector<double> y = term.score(case_with({0, 1, 2, 3}), {4});
  EXPECT_EQ(term.stats().short_prompts, 1);
  EXPECT_NEAR(
      y[0],
      step_by_step_mean(*model_, tok_, history_prompt({"Item number 03"}), " Item number 04\n"),
      1e-4);
}

TEST_F(TinyTitleLikelihood, BadItemIdsAreNamed) {
  TitleLikelihood term(*model_, tok_, items_, {});
  EXPECT_THROW(term.score(case_with({0}), {6}), hybrec::Error);
  EXPECT_THROW(term.prompt_of({9}), hybrec::Error);
}

const std::string kSmolLM2 =
    std::string(HYBREC_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

TEST(SmolLM2TitleLikelihood, TheNextFilmOfASeriesOutscoresNonsense) {
  if (!std::filesystem::exists(kSmolLM2)) {
    GTEST_SKIP() << "no SmolLM2 at " << kSmolLM2 << " (run scripts/get-smollm2.sh)";
  }
  const Decoder d = load_decoder(kSmolLM2);
  const std::vector<std::string> items{"Toy Story (1995) | Animation", "Toy Story 2 (1999)",
                                       "Finding Nemo (2003)",          "Toy Story 3 (2010)",
                                       "Xqzv Wbrtk Plmn (1987)",       "Caf\xE9 Society (2016)"};
  TitleLikelihood term(*d.model, *d.tokenizer, items, {});
  const std::vector<double> y = term.score(case_with({0, 1, 2}), {3, 4, 5});
  EXPECT_GT(y[0], y[1] + 0.5) << y[0] << " vs " << y[1];
  EXPECT_LT(y[0], 0.0);
  EXPECT_TRUE(std::isfinite(y[2]));
}

}  // namespace
}  // namespace hybrec::trainer
