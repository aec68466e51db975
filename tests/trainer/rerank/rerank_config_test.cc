// The [rerank] config keys of the generated-text score term
// (trainer/loop/config.h RerankOptions): defaults, the file and --set forms
// of the lambda grid, and bad values named.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hybrec/kernels/error.h"
#include "testing/gguf_bytes.h"
#include "trainer/loop/config.h"

namespace hybrec::trainer {
namespace {

std::string error_of(const std::string& toml, const std::vector<std::string>& overrides = {}) {
  return hybrec::testing::error_of([&] { parse_config(toml, "test.toml", overrides); });
}

TEST(RerankConfig, IsOffByDefault) {
  const RerankOptions r = parse_config("", "t", {}).rerank;
  EXPECT_EQ(r.generated_n, 0);
  EXPECT_EQ(r.generated_lambda, 0.0);
  EXPECT_TRUE(r.lambda_grid.empty());
  EXPECT_EQ(r.model, "models/SmolLM2-135M-Instruct.Q4_1.gguf");
  EXPECT_EQ(r.max_users, 0);
  EXPECT_FALSE(r.test_curve);
}

TEST(RerankConfig, ReadsTheTableAndOverrides) {
  const TrainConfig c = parse_config(
      "[rerank]\ngenerated_n = 20\ngenerated_lambda = 0.5\nlambda_grid = [0.25, 1, 4]\n"
      "model = \"m.gguf\"\nhistory_titles = 5\ntitle_tokens = 12\nmax_users = 80\n"
      "test_curve = true\n",
      "t", {});
  EXPECT_EQ(c.rerank.generated_n, 20);
  EXPECT_EQ(c.rerank.generated_lambda, 0.5);
  EXPECT_EQ(c.rerank.lambda_grid, (std::vector<double>{0.25, 1.0, 4.0}));
  EXPECT_EQ(c.rerank.model, "m.gguf");
  EXPECT_EQ(c.rerank.history_titles, 5);
  EXPECT_EQ(c.rerank.title_tokens, 12);
  EXPECT_EQ(c.rerank.max_users, 80);
  EXPECT_TRUE(c.rerank.test_curve);
  const TrainConfig o =
      parse_config("[rerank]\nlambda_grid = [3]\n", "t", {"rerank.lambda_grid=0.1,0.3"});
  EXPECT_EQ(o.rerank.lambda_grid, (std::vector<double>{0.1, 0.3}));
  EXPECT_TRUE(parse_config("[rerank]\nlambda_grid = [3]\n", "t", {"rerank.lambda_grid="})
                  .rerank.lambda_grid.empty());
}

TEST(RerankConfig, TheGridSurvivesTheRunsConfigToml) {
  TrainConfig c = parse_config("", "t", {"rerank.lambda_grid=0.1,2.5", "rerank.generated_n=7"});
  const TrainConfig back = parse_config(to_toml(c), "back", {});
  EXPECT_EQ(back.rerank.lambda_grid, c.rerank.lambda_grid);
  EXPECT_EQ(back.rerank.generated_n, 7);
}

TEST(RerankConfig, BadKeysAndValuesAreNamed) {
  EXPECT_NE(error_of("[rerank]\ngenerated = 3\n").find("unknown key 'rerank.generated' at line 2"),
            std::string::npos);
  EXPECT_NE(error_of("", {"rerank.n=3"}).find("unknown config key 'rerank.n'"), std::string::npos);
  EXPECT_NE(error_of("[rerank]\ngenerated_n = -1\n").find("rerank.generated_n = -1 out of range"),
            std::string::npos);
  EXPECT_NE(error_of("", {"rerank.generated_lambda=big"})
                .find("rerank.generated_lambda must be a number, got 'big'"),
            std::string::npos);
  EXPECT_NE(error_of("[rerank]\nlambda_grid = 0.5\n").find("rerank.lambda_grid must be an array"),
            std::string::npos);
  EXPECT_NE(error_of("[rerank]\nlambda_grid = [0.5, -1]\n")
                .find("rerank.lambda_grid[1] = -1 out of range [0, 1000]"),
            std::string::npos);
  EXPECT_NE(error_of("[rerank]\nlambda_grid = [0.5, \"x\"]\n")
                .find("rerank.lambda_grid[1] must be a number"),
            std::string::npos);
  EXPECT_NE(error_of("", {"rerank.lambda_grid=0.1,x"})
                .find("rerank.lambda_grid[1] must be a number, got 'x'"),
            std::string::npos);
  EXPECT_NE(error_of("", {"rerank.lambda_grid=0.1,"})
                .find("rerank.lambda_grid[1] must be a number, got ''"),
            std::string::npos);
  EXPECT_NE(error_of("[rerank]\ntitle_tokens = 0\n").find("rerank.title_tokens = 0 out of range"),
            std::string::npos);
  EXPECT_NE(error_of("[rerank]\ngenerated_n = 5\nmodel = \"\"\n").find("rerank.model is empty"),
            std::string::npos);
  EXPECT_EQ(error_of("[rerank]\nmodel = \"\"\n"), "");  // off: no decoder needed
}

}  // namespace
}  // namespace hybrec::trainer
