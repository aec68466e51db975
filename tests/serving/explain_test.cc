// Explanations end to end on a tiny trained run with the real
// SmolLM2-135M-Instruct (skipped when scripts/get-smollm2.sh has not placed
// it in models/): `hybrec explain` writes a sentence whose aspect words are
// in both the item's text and a history text, and names an unknown user,
// item or model file; `hybrec serve --explain-model` explains the first
// explain_k results over HTTP (GET and POST) and Thrift (`hybrec recommend
// --explain`) and no others; a server without a model refuses explain=true
// and keeps serving.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "serving/serve_process.h"
#include "serving/small_run.h"
#include "testing/command.h"
#include "testing/temp_dir.h"
#include "trainer/explain/aspects.h"
#include "trainer/explain/explainer.h"
#include "trainer/pipelines/trained_run.h"

namespace hybrec::serving {
namespace {

using nlohmann::json;
using testing::ServeProcess;

const std::string kBin = HYBREC_BIN;
const std::string kModel =
    std::string(HYBREC_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
constexpr int64_t kUser = 7;

std::set<std::string> words(const std::string& text) {
  const auto w = explain::text_words(text);
  return {w.begin(), w.end()};
}

class Explain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(kModel)) return;
    dir_ = new hybrec::testing::TempDir("hybrec-explain-test");
    run_ = new std::string(testing::train_small_run(kBin, dir_->path()));
    trained_ = new trainer::TrainedRun(trainer::load_trained_run(*run_, {}));
    data_ = &trained_->data;
    server_ = new ServeProcess({"--run", *run_, "--http-port", "0", "--port", "0", "--threads", "2",
                                "--explain-model", kModel},
                               *dir_ / "serve.log");
    plain_ = new ServeProcess({"--run", *run_, "--http-port", "0"}, *dir_ / "plain.log");
  }
  static void TearDownTestSuite() {
    delete plain_;
    delete server_;
    delete trained_;
    delete run_;
    delete dir_;
  }
  void SetUp() override {
    if (dir_ == nullptr) {
      GTEST_SKIP() << "no SmolLM2 at " << kModel << " (run scripts/get-smollm2.sh)";
    }
  }

  // The texts of the user's encoded history: the last history_len events.
  static std::vector<std::string> history_texts(int64_t user) {
    std::vector<std::string> out;
    const int64_t end = data_->user_offsets[user + 1];
    const int64_t len = trained_->config.model.history_len;
    for (int64_t e = std::max(data_->user_offsets[user], end - len); e < end; ++e) {
      out.push_back(data_->item_text[data_->item[e]]);
    }
    return out;
  }

  // An item outside the user's history sharing the most words with it, so
  // that it has aspects to find.
  static int64_t related_item(int64_t user) {
    std::set<std::string> seen_words;
    for (const std::string& t : history_texts(user)) {
      for (const std::string& w : words(t)) seen_words.insert(w);
    }
    const std::set<int64_t> seen(data_->item.begin() + data_->user_offsets[user],
                                 data_->item.begin() + data_->user_offsets[user + 1]);
    int64_t best = -1;
    std::size_t best_shared = 0;
    for (int64_t j = 0; j < data_->num_items; ++j) {
      if (seen.count(j) > 0) continue;
      std::size_t shared = 0;
      for (const std::string& w : words(data_->item_text[j])) shared += seen_words.count(w);
      if (shared > best_shared) best = j, best_shared = shared;
    }
    return best;
  }

  static std::string explain_command(const std::string& args) {
    return kBin + " explain --run " + *run_ + " --model " + kModel + " --max-tokens 24 " + args;
  }

  // Explanations take seconds: a client that waits for them.
  static std::pair<int, json> call(int port, const std::string& path, const std::string& body) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(300, 0);
    const httplib::Result res = body.empty() ? c.Get(path) : c.Post(path, body, "application/json");
    if (!res) return {-1, json()};
    return {res->status, json::parse(res->body)};
  }

  static void expect_explained_first(const json& reply, std::size_t explained) {
    ASSERT_TRUE(reply.contains("items")) << reply.dump();
    ASSERT_GT(reply["items"].size(), explained) << reply.dump();
    for (std::size_t i = 0; i < reply["items"].size(); ++i) {
      const json& item = reply["items"][i];
      if (i >= explained) {
        EXPECT_FALSE(item.contains("explanation")) << "rank " << i << ": " << item.dump();
        EXPECT_FALSE(item.contains("aspects")) << "rank " << i << ": " << item.dump();
        continue;
      }
      ASSERT_TRUE(item.contains("explanation")) << "rank " << i << ": " << item.dump();
      EXPECT_FALSE(item["explanation"].get<std::string>().empty()) << item.dump();
      const std::set<std::string> item_words = words(data_->item_text[item["item"].get<int64_t>()]);
      for (const json& a : item["aspects"]) EXPECT_EQ(item_words.count(a.get<std::string>()), 1u);
    }
  }

  static hybrec::testing::TempDir* dir_;
  static std::string* run_;
  static trainer::TrainedRun* trained_;
  static const trainer::Dataset* data_;
  static ServeProcess* server_;
  static ServeProcess* plain_;
};

hybrec::testing::TempDir* Explain::dir_ = nullptr;
std::string* Explain::run_ = nullptr;
trainer::TrainedRun* Explain::trained_ = nullptr;
const trainer::Dataset* Explain::data_ = nullptr;
ServeProcess* Explain::server_ = nullptr;
ServeProcess* Explain::plain_ = nullptr;

TEST_F(Explain, TheCommandWritesASentenceWithSharedAspects) {
  const int64_t item = related_item(kUser);
  ASSERT_GE(item, 0);
  const auto r = hybrec::testing::run_command(explain_command(
      "--user " + std::to_string(kUser) + " --item " + std::to_string(item) + " --json"));
  ASSERT_EQ(r.status, 0) << r.output;
  const json j = json::parse(r.output.substr(r.output.find('{')));
  EXPECT_FALSE(j["sentence"].get<std::string>().empty()) << j.dump();
  EXPECT_FALSE(j["no_history"].get<bool>());
  ASSERT_FALSE(j["aspects"].empty()) << j.dump();
  const std::set<std::string> item_words = words(data_->item_text[item]);
  for (const json& a : j["aspects"]) {
    const std::string w = a.get<std::string>();
    EXPECT_EQ(item_words.count(w), 1u) << w << " is not in the item's text";
    bool in_history = false;
    for (const std::string& t : history_texts(kUser)) in_history |= words(t).count(w) > 0;
    EXPECT_TRUE(in_history) << w << " is in no history text";
  }

  // The table form: the title line, the aspects, the sentence.
  const auto table = hybrec::testing::run_command(
      explain_command("--user " + std::to_string(kUser) + " --item " + std::to_string(item)));
  ASSERT_EQ(table.status, 0) << table.output;
  EXPECT_NE(table.output.find("aspects: " + j["aspects"][0].get<std::string>()), std::string::npos)
      << table.output;
  EXPECT_NE(table.output.find(j["sentence"].get<std::string>()), std::string::npos) << table.output;
}

TEST_F(Explain, TheCommandNamesAnUnknownUserItemOrModel) {
  auto r = hybrec::testing::run_command(explain_command("--user 100000 --item 3"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("user 100000 is not a user of"), std::string::npos) << r.output;
  r = hybrec::testing::run_command(explain_command("--user 7 --item 5000"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("item 5000 is not an item of"), std::string::npos) << r.output;
  r = hybrec::testing::run_command(kBin + " explain --run " + *run_ +
                                   " --user 7 --item 3 --model " + dir_->path() + "/none.gguf");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("no language model at"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("scripts/get-smollm2.sh"), std::string::npos) << r.output;
}

TEST_F(Explain, EvalScoresExplanationsOfHeldOutPairsAgainstTheirReferences) {
  // The small run's dataset has item text and no user-written text, so the
  // references are the items' texts and the pairs its test events.
  const std::string out = dir_->path() + "/eval-explanations";
  std::filesystem::create_directories(out);
  const auto r = hybrec::testing::run_command(kBin + " eval " + *run_ + " --explanations --model " +
                                              kModel + " --pairs 3 --max-tokens 12 --out " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("BLEU"), std::string::npos) << r.output;
  std::ifstream metrics(out + "/metrics.jsonl");
  std::string line, last;
  while (std::getline(metrics, line)) last = line;
  const json e = json::parse(last);
  EXPECT_EQ(e["event"], "eval_explanations");
  EXPECT_EQ(e["references"], "item_text");
  EXPECT_EQ(e["pairs_scored"], 3);
  // The three scored pairs plus the personalisation check's explanations.
  EXPECT_GE(e["explanations"].get<int64_t>(), 3);
  for (const char* key : {"bleu1", "bleu4", "rouge1", "rouge2", "rougeL"}) {
    EXPECT_GE(e[key].get<double>(), 0.0) << key;
    EXPECT_LE(e[key].get<double>(), 100.0) << key;
  }
  // Three greedy sentences about three different items share some words
  // (the response starts "You may like <title> because") but not all.
  EXPECT_GT(e["distinct1"].get<double>(), 0.0);
  EXPECT_LT(e["distinct1"].get<double>(), 1.0);

  const auto baseline = hybrec::testing::run_command(kBin + " eval " + *run_ +
                                                     " --explanations --baseline popularity");
  EXPECT_NE(baseline.status, 0);
  EXPECT_NE(baseline.output.find("a --baseline has no explanations"), std::string::npos)
      << baseline.output;
}

TEST_F(Explain, HeldOutHistoryStopsBeforeThePairsFirstEvent) {
  const llm::TextGenerator generator(kModel);
  const explain::Explainer explainer(*trained_, generator);
  const int64_t begin = data_->user_offsets[kUser], end = data_->user_offsets[kUser + 1];
  ASSERT_GE(end - begin, 3);
  const int64_t e = begin + (end - begin) / 2;  // an event in the middle of the history
  const int64_t item = data_->item[e];
  int64_t first = begin;  // the user's first event with the item
  while (data_->item[first] != item) ++first;
  const int64_t len = trained_->config.model.history_len;
  const std::vector<int64_t> expected(data_->item.begin() + std::max(begin, first - len),
                                      data_->item.begin() + first);
  EXPECT_EQ(explainer.held_out_history(kUser, item), expected);
  EXPECT_EQ(std::count(expected.begin(), expected.end(), item), 0);
  // An item the user never had: the whole history (its last history_len).
  std::set<int64_t> seen(data_->item.begin() + begin, data_->item.begin() + end);
  int64_t unseen = 0;
  while (seen.count(unseen) > 0) ++unseen;
  const std::vector<int64_t> all(data_->item.begin() + std::max(begin, end - len),
                                 data_->item.begin() + end);
  EXPECT_EQ(explainer.held_out_history(kUser, unseen), all);
}

TEST_F(Explain, ServingExplainsTheFirstExplainKResultsOnly) {
  ASSERT_TRUE(server_->running());
  auto [status, reply] = call(server_->port(), "/recommend?user=7&k=4&explain=1&explain_k=2", "");
  ASSERT_EQ(status, 200) << reply.dump();
  expect_explained_first(reply, 2);

  std::tie(status, reply) =
      call(server_->port(), "/recommend", R"({"user":7,"k":3,"explain":true,"explain_k":1})");
  ASSERT_EQ(status, 200) << reply.dump();
  expect_explained_first(reply, 1);

  // Without explain, nothing is explained.
  std::tie(status, reply) = call(server_->port(), "/recommend?user=7&k=3", "");
  ASSERT_EQ(status, 200) << reply.dump();
  expect_explained_first(reply, 0);

  std::tie(status, reply) = call(server_->port(), "/recommend?user=7&explain=1&explain_k=11", "");
  EXPECT_EQ(status, 400);
  EXPECT_NE(reply.dump().find("explain_k = 11 must be in [1, 10]"), std::string::npos)
      << reply.dump();
}

TEST_F(Explain, TheRecommendCommandPrintsTheSentenceUnderEachExplainedRow) {
  ASSERT_TRUE(server_->running());
  std::ifstream log(*dir_ / "serve.log");
  std::stringstream text;
  text << log.rdbuf();
  const std::string marker = "hybrec serve: thrift ";
  const std::size_t at = text.str().find(marker);
  ASSERT_NE(at, std::string::npos) << text.str();
  const std::string address =
      text.str().substr(at + marker.size(), text.str().find('\n', at) - at - marker.size());
  const auto r = hybrec::testing::run_command(kBin + " recommend --serve " + address +
                                              " --user 7 -k 3 --explain --explain-k 1 --json");
  ASSERT_EQ(r.status, 0) << r.output;
  const json j = json::parse(r.output);
  expect_explained_first(j, 1);

  const auto table = hybrec::testing::run_command(kBin + " recommend --serve " + address +
                                                  " --user 7 -k 3 --explain --explain-k 1");
  ASSERT_EQ(table.status, 0) << table.output;
  // Row 1, then its sentence on the next line, then row 2.
  const std::string sentence = j["items"][0]["explanation"].get<std::string>();
  const std::size_t row1 = table.output.find("\n   1  ");
  const std::size_t said = table.output.find(sentence);
  const std::size_t row2 = table.output.find("\n   2  ");
  ASSERT_NE(row1, std::string::npos) << table.output;
  ASSERT_NE(said, std::string::npos) << table.output;
  EXPECT_LT(row1, said);
  EXPECT_LT(said, row2);
}

TEST_F(Explain, AServerWithoutAModelRefusesExplainAndKeepsServing) {
  ASSERT_TRUE(plain_->running());
  auto [status, reply] = call(plain_->port(), "/recommend?user=7&explain=1", "");
  EXPECT_EQ(status, 400);
  EXPECT_NE(reply.dump().find("explain needs a server started with --explain-model"),
            std::string::npos)
      << reply.dump();
  std::tie(status, reply) = call(plain_->port(), "/recommend?user=7", "");
  EXPECT_EQ(status, 200) << reply.dump();
}

}  // namespace
}  // namespace hybrec::serving
