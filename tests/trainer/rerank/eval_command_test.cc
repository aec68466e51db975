// `hybrec eval` with the generated-text term, end to end: a small
// synthetic run, re-ranked with a tiny random decoder (tests/testing/
// tiny_llama.h, one token per byte). Without the term the results are the
// model's own, bit for bit; lambda is the validation-best of its grid;
// what it cost is logged; bad settings are errors naming them.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "testing/command.h"
#include "testing/temp_dir.h"
#include "testing/tiny_llama.h"

namespace hybrec::trainer {
namespace {

using hybrec::testing::run_command;

const std::string kBin = HYBREC_BIN;

std::vector<nlohmann::json> events_of(const std::string& dir) {
  std::vector<nlohmann::json> out;
  std::ifstream in(dir + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Test evaluations by (model, subset).
std::map<std::pair<std::string, std::string>, nlohmann::json> tests_of(const std::string& dir) {
  std::map<std::pair<std::string, std::string>, nlohmann::json> out;
  for (const auto& e : events_of(dir)) {
    if (e.value("event", "") == "eval" && e.value("split", "") == "test") {
      out[{e.value("model", ""), e.value("subset", "")}] = e;
    }
  }
  return out;
}

class GeneratedTermEval : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new hybrec::testing::TempDir("hybrec-generated-term");
    auto r = run_command(kBin + " data synth --out " + (*dir_ / "synth.h5") +
                         " --users 300 --items 200 --events-per-user 20 --seed 3");
    ASSERT_EQ(r.status, 0) << r.output;
    std::ofstream(*dir_ / "train.toml")
        << "[data]\npath = \"" << (*dir_ / "synth.h5") << "\"\n"
        << "[train]\nbatch_size = 128\nnegatives = 8\nmax_steps = 30\nlog_every_s = 60\n"
           "threads = 1\n";
    r = run_command(kBin + " train " + (*dir_ / "train.toml") + " --out " + run());
    ASSERT_EQ(r.status, 0) << r.output;
    testing::TinyLlamaSpec spec;
    spec.byte_tokenizer = true;
    spec.context = 4096;
    const std::string bytes = testing::tiny_llama_gguf(spec);
    std::ofstream(decoder(), std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string run() { return *dir_ / "run"; }
  static std::string decoder() { return *dir_ / "tiny.gguf"; }
  static std::string eval(const std::string& out, const std::string& args, int expect = 0) {
    const auto r = run_command(kBin + " eval " + run() + " --out " + out + " " + args);
    EXPECT_EQ(r.status, expect) << r.output;
    return r.output;
  }
  static std::string with_term(const std::string& extra = "") {
    return "--set rerank.generated_n=15 --set rerank.history_titles=3 --set rerank.model=" +
           decoder() + " " + extra;
  }

  static hybrec::testing::TempDir* dir_;
};

hybrec::testing::TempDir* GeneratedTermEval::dir_ = nullptr;

TEST_F(GeneratedTermEval, WithoutTheTermIsTheModelsOwnRankingAndLambdaIsTheValidationBest) {
  const std::string plain = *dir_ / "plain", term = *dir_ / "term";
  eval(plain, "");
  const std::string out =
      eval(term, with_term("--set rerank.lambda_grid=0.5,4 --set rerank.test_curve=true"));
  EXPECT_NE(out.find("without the term (lambda = 0)"), std::string::npos) << out;
  EXPECT_NE(out.find("with the term (lambda = "), std::string::npos) << out;

  const auto base = tests_of(plain), got = tests_of(term);
  for (const std::string subset : {"warm", "cold"}) {
    const auto& own = base.at({"checkpoint", subset});
    const auto& without = got.at({"without_generated_term", subset});
    EXPECT_EQ(without["hr@10"], own["hr@10"]) << subset;
    EXPECT_EQ(without["ndcg@10"], own["ndcg@10"]) << subset;
    EXPECT_EQ(without["users"], own["users"]) << subset;
    ASSERT_TRUE(got.count({"with_generated_term", subset})) << subset;
  }
  EXPECT_EQ(got.count({"without_generated_term", "cold_all"}), 0u);

  nlohmann::json g;
  for (const auto& e : events_of(term)) {
    if (e.value("event", "") == "generated_term") g = e;
  }
  ASSERT_FALSE(g.is_null());
  const auto& curve = g["validation_ndcg@10"];
  ASSERT_EQ(curve.size(), 3u);  // 0 joins the grid
  EXPECT_EQ(curve[0][0], 0.0);
  double best = -1, best_lambda = -1;
  for (const auto& point : curve) {
    if (point[1].get<double>() > best) {
      best = point[1];
      best_lambda = point[0];
    }
  }
  EXPECT_EQ(g["lambda"].get<double>(), best_lambda);
  EXPECT_EQ(got.at({"with_generated_term", "warm"})["lambda"].get<double>(), best_lambda);
  // The test curve: every lambda tried, its ends the two tables.
  const auto& test_curve = g["test_curve"];
  ASSERT_EQ(test_curve.size(), 3u);
  for (const auto& point : test_curve) {
    const double lambda = point["lambda"];
    const std::string model = lambda == 0.0           ? "without_generated_term"
                              : lambda == best_lambda ? "with_generated_term"
                                                      : "";
    if (model.empty()) continue;
    EXPECT_EQ(point["warm_ndcg@10"], got.at({model, "warm"})["ndcg@10"]) << lambda;
    EXPECT_EQ(point["cold_hr@10"], got.at({model, "cold"})["hr@10"]) << lambda;
  }
  EXPECT_GT(g["cases"].get<int64_t>(), 0);
  EXPECT_EQ(g["titles_scored"].get<int64_t>() + g["titles_cached"].get<int64_t>() > 0, true);
  EXPECT_GT(g["s_per_case"].get<double>(), 0.0);
}

TEST_F(GeneratedTermEval, AGivenLambdaAndAUserSampleAreUsedAsGiven) {
  const std::string all = *dir_ / "all", some = *dir_ / "some";
  eval(all, with_term("--set rerank.generated_lambda=1"));
  eval(some, with_term("--set rerank.generated_lambda=1 --set rerank.max_users=60"));
  const auto a = tests_of(all), s = tests_of(some);
  EXPECT_EQ(a.at({"with_generated_term", "warm"})["lambda"].get<double>(), 1.0);
  EXPECT_LT(s.at({"with_generated_term", "warm"})["users"].get<int64_t>(),
            a.at({"with_generated_term", "warm"})["users"].get<int64_t>());
  EXPECT_EQ(s.at({"with_generated_term", "warm"})["users"],
            s.at({"without_generated_term", "warm"})["users"]);
}

TEST_F(GeneratedTermEval, BadSettingsAreErrorsNamingThem) {
  const std::string bad = *dir_ / "bad";
  EXPECT_NE(eval(bad, "--set rerank.generated_n=5 --set rerank.model=" + (*dir_ / "none.gguf"), 1)
                .find(*dir_ / "none.gguf"),
            std::string::npos);
  EXPECT_NE(
      eval(bad, "--set rerank.generatd_n=5", 1).find("unknown config key 'rerank.generatd_n'"),
      std::string::npos);
  EXPECT_NE(eval(bad, with_term("--set rerank.lambda_grid=1,-2"), 1)
                .find("rerank.lambda_grid[1] = -2 out of range"),
            std::string::npos);
}

}  // namespace
}  // namespace hybrec::trainer
