#include "trainer/loop/config.h"

#include <gtest/gtest.h>

#include <string>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {
namespace {

std::string error_of(const std::string& toml, const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(toml, "test.toml", overrides);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, ReadsEveryTableAndKeepsDefaultsElsewhere) {
  const TrainConfig c = parse_config(
      "[data]\npath = \"x.h5\"\n[model]\ndim = 16\nuse_text = false\nloss = \"bce\"\n"
      "[train]\nlr = 0.01\nsampler = \"popularity\"\nsync = true\n[eval]\nk = 20\n",
      "test.toml", {});
  EXPECT_EQ(c.data_path, "x.h5");
  EXPECT_EQ(c.model.dim, 16);
  EXPECT_FALSE(c.model.use_text);
  EXPECT_EQ(c.model.loss, Loss::kBce);
  EXPECT_DOUBLE_EQ(c.train.lr, 0.01);
  EXPECT_EQ(c.train.sampler, Sampler::kPopularity);
  EXPECT_TRUE(c.train.sync);
  EXPECT_EQ(c.eval.k, 20);
  EXPECT_EQ(c.train.batch_size, TrainOptions().batch_size);
}

TEST(Config, UnknownKeyIsAnErrorNamingIt) {
  const std::string e = error_of("[model]\ndim = 16\ndimm = 32\n");
  EXPECT_NE(e.find("unknown key 'model.dimm'"), std::string::npos) << e;
  EXPECT_NE(e.find("test.toml"), std::string::npos) << e;
  EXPECT_NE(e.find("line 3"), std::string::npos) << e;
  EXPECT_NE(error_of("[modle]\ndim = 1\n").find("unknown key 'modle.dim'"), std::string::npos);
}

TEST(Config, WrongTypesAndRangesAreErrors) {
  EXPECT_NE(error_of("[model]\ndim = \"big\"\n").find("model.dim must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of("[model]\ndim = 0\n").find("model.dim = 0 out of range"), std::string::npos);
  EXPECT_NE(
      error_of("[train]\nsampler = \"zipf\"\n").find("'zipf' is not one of: uniform, popularity"),
      std::string::npos);
  EXPECT_NE(error_of("[train]\nsync = 1\n").find("train.sync must be true or false"),
            std::string::npos);
  EXPECT_NE(error_of("[model\n").find("test.toml"), std::string::npos);
  EXPECT_NE(error_of("model = 3\n").find("must be a table"), std::string::npos);
}

TEST(Config, OverridesApplyAfterTheFileAndAreChecked) {
  const TrainConfig c = parse_config("[model]\ndim = 16\n", "t",
                                     {"model.dim=64", "train.lr=0.5", "model.use_id=false"});
  EXPECT_EQ(c.model.dim, 64);
  EXPECT_DOUBLE_EQ(c.train.lr, 0.5);
  EXPECT_FALSE(c.model.use_id);
  EXPECT_NE(error_of("", {"model.dimm=3"}).find("unknown config key 'model.dimm'"),
            std::string::npos);
  EXPECT_NE(error_of("", {"model.dim=abc"}).find("must be an integer, got 'abc'"),
            std::string::npos);
  EXPECT_NE(error_of("", {"model.dim"}).find("expected section.key=value"), std::string::npos);
}

TEST(Config, ShardRestartsStopTheRunUnlessRewindIsAsked) {
  EXPECT_EQ(parse_config("", "t", {}).ps.on_restart, OnRestart::kStop);
  const TrainConfig c = parse_config("[ps]\non_restart = \"rewind\"\nmax_rewinds = 5\n", "t", {});
  EXPECT_EQ(c.ps.on_restart, OnRestart::kRewind);
  EXPECT_EQ(c.ps.max_rewinds, 5);
  EXPECT_NE(error_of("[ps]\non_restart = \"retry\"\n").find("'retry' is not one of: stop, rewind"),
            std::string::npos);
  EXPECT_NE(error_of("", {"ps.max_rewinds=-1"}).find("ps.max_rewinds = -1 out of range"),
            std::string::npos);
}

TEST(Config, ToTomlReadsBackToTheSameConfig) {
  const TrainConfig a =
      parse_config("[data]\npath = \"a \\\"b\\\".h5\"\n[model]\nid_dropout = 0.25\n", "t",
                   {"train.sparse_optimizer=adam", "model.pooling=last"});
  const std::string text = to_toml(a);
  const TrainConfig b = parse_config(text, "round trip", {});
  EXPECT_EQ(to_toml(b), text);
  EXPECT_EQ(b.data_path, "a \"b\".h5");
  EXPECT_FLOAT_EQ(b.model.id_dropout, 0.25f);
  EXPECT_EQ(b.train.sparse_optimizer, SparseOptimizer::kAdam);
  EXPECT_EQ(b.model.pooling, HistoryPooling::kLast);
}

TEST(Config, MissingFileIsAnErrorNamingIt) {
  try {
    load_config("/nonexistent/run.toml", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/run.toml: cannot read"), std::string::npos);
  }
}

}  // namespace
}  // namespace hybrec::trainer
