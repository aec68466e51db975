// `hybrec embed` end to end on a tiny random BERT directory: it fills a
// dataset's /items/text_emb (and /users/text_emb) with the encoder's vectors
// (rows without text stay zero), keeps everything else, prints one vector
// for --text, and rejects bad input naming it, leaving the dataset intact.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "testing/command.h"
#include "testing/temp_dir.h"
#include "text_testing.h"
#include "trainer/data/dataset.h"
#include "trainer/text/bert_encoder.h"

namespace hybrec::text {
namespace {

using Result = hybrec::testing::CommandResult;

Result run(const std::string& args) {
  return hybrec::testing::run_command(std::string(HYBREC_BIN) + " embed " + args);
}

trainer::Dataset small_dataset() {
  trainer::Dataset d;
  d.name = "tiny";
  d.num_users = 2;
  d.num_items = 3;
  d.user = {0, 0, 0, 1, 1, 1};
  d.item = {0, 1, 2, 0, 1, 2};
  d.rating = {1, 1, 1, 1, 1, 1};
  d.timestamp = {1, 2, 3, 1, 2, 3};
  d.item_cold = {0, 0, 0};
  d.item_text = {"The cat sat on the mat.", "", "Dogs run"};
  d.user_text = {"cat", "dog"};
  trainer::assign_splits(d);
  return d;
}

class EmbedCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = dir_ / "model";
    std::filesystem::create_directories(model_);
    testing::write_tiny_bert(model_, 9);
    data_ = dir_ / "d.h5";
    trainer::write_dataset(small_dataset(), data_);
  }
  hybrec::testing::TempDir dir_{"hybrec-embed"};
  std::string model_, data_;
};

TEST_F(EmbedCommand, FillsItemAndUserEmbeddingsWithTheEncodersVectors) {
  Result r = run("--model " + model_ + " --data " + data_ + " --batch 2 --threads 1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("embedded 2 item texts"), std::string::npos) << r.output;
  const BertEncoder encoder(model_);
  trainer::Dataset d = trainer::read_dataset(data_);
  ASSERT_EQ(d.text_dim, 8);
  EXPECT_EQ(d.text_encoder, "model");
  EXPECT_EQ(d.item, small_dataset().item);
  for (int64_t i : {0, 2}) {
    const auto want = encoder.encode_one(d.item_text[i]);
    for (int j = 0; j < 8; ++j) EXPECT_NEAR(d.item_text_emb[i * 8 + j], want[j], 1e-6) << i;
  }
  for (int j = 0; j < 8; ++j) EXPECT_EQ(d.item_text_emb[8 + j], 0.0f);  // no text: zero row

  r = run("--model " + model_ + " --data " + data_ + " --field users");
  ASSERT_EQ(r.status, 0) << r.output;
  d = trainer::read_dataset(data_);
  ASSERT_EQ(d.user_text_dim, 8);
  const auto dog = encoder.encode_one("dog");
  for (int j = 0; j < 8; ++j) EXPECT_NEAR(d.user_text_emb[8 + j], dog[j], 1e-6);
  EXPECT_EQ(d.text_dim, 8);  // the items' table kept
}

TEST_F(EmbedCommand, PrintsOneVectorForText) {
  const Result r = run("--model " + model_ + " --text 'The cat sat.'");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto v = nlohmann::json::parse(r.output).get<std::vector<double>>();
  const auto want = BertEncoder(model_).encode_one("The cat sat.");
  ASSERT_EQ(v.size(), 8u);
  double norm = 0;
  for (int j = 0; j < 8; ++j) {
    EXPECT_NEAR(v[j], want[j], 1e-7);
    norm += v[j] * v[j];
  }
  EXPECT_NEAR(norm, 1.0, 1e-6);
}

TEST_F(EmbedCommand, BadInputIsNamedAndLeavesTheDatasetAsItWas) {
  const struct {
    std::string args, message;
  } cases[] = {
      {"--data " + data_, "--model DIR is required"},
      {"--model " + model_, "exactly one of --data FILE and --text TEXT"},
      {"--model " + model_ + " --data " + data_ + " --text x", "exactly one of"},
      {"--model " + model_ + " --data " + data_ + " --field books", "--field 'books'"},
      {"--model " + dir_ / "none" + " --data " + data_, "does not exist"},
      {"--model " + model_ + " --data " + dir_ / "none.h5", "none.h5"},
      {"--model " + model_ + " --data " + data_ + " --batch 0", "--batch"},
      {"--model " + model_ + " --data " + data_ + " --device tpu", "--device 'tpu'"},
  };
  for (const auto& c : cases) {
    const Result r = run(c.args);
    EXPECT_NE(r.status, 0) << c.args;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << ": " << r.output;
  }
  EXPECT_EQ(trainer::read_dataset(data_).text_dim, 0);
}

}  // namespace
}  // namespace hybrec::text
