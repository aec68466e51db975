// `hybrec serve` over HTTP, the real binary on a tiny trained run: GET, POST
// and batch answers equal libhybrec_serving's recommend() for the same
// requests (the run loaded in this process too); client mistakes are 400
// or 413 naming the problem and the server keeps serving; /health; /metrics
// passes `promtool check metrics`; SIGTERM stops it with exit 0; bad command
// lines exit non-zero naming what is wrong.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "serving/http_client.h"
#include "serving/serve_process.h"
#include "serving/small_run.h"
#include "serving/served_run.h"
#include "testing/command.h"
#include "testing/temp_dir.h"

namespace hybrec::serving {
namespace {

using nlohmann::json;
using testing::metric;
using testing::ServeProcess;

class Http : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new hybrec::testing::TempDir("hybrec-serving-http-test");
    run_ = new std::string(testing::train_small_run(HYBREC_BIN, dir_->path()));
    server_ = new ServeProcess({"--run", *run_, "--http-port", "0", "--threads", "2"},
                               *dir_ / "serve.log");
    ServeOptions options;
    options.run = *run_;
    options.refresh_s = 0;
    served_ = new ServedRun(options);
  }
  static void TearDownTestSuite() {
    if (server_->running()) {
      EXPECT_EQ(server_->stop(), 0);
    }
    delete server_;
    delete served_;
    delete run_;
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(server_->running()); }

  static httplib::Client client() { return httplib::Client("127.0.0.1", server_->port()); }

  // The library's answer for the same request, as the server writes it.
  static void expect_reply(const json& got, const RecommendReply& want) {
    ASSERT_TRUE(got.contains("items")) << got.dump();
    ASSERT_EQ(got["items"].size(), want.items.size()) << got.dump();
    for (std::size_t i = 0; i < want.items.size(); ++i) {
      const json& item = got["items"][i];
      EXPECT_EQ(item["item"].get<int64_t>(), want.items[i].item) << "rank " << i;
      EXPECT_EQ(item["title"].get<std::string>(), served_->title(want.items[i].item));
      EXPECT_NEAR(item["score"].get<double>(), want.items[i].score, 1e-5);
      EXPECT_NEAR(item["cf"].get<double>(), want.items[i].cf, 1e-5);
      EXPECT_NEAR(item["text"].get<double>(), want.items[i].text, 1e-5);
      EXPECT_NEAR(item["new_item"].get<double>(), want.items[i].new_item, 1e-6);
    }
    EXPECT_EQ(got["new_user"].get<bool>(), want.new_user);
    EXPECT_EQ(got["snapshot_version"].get<int64_t>(), want.snapshot_version);
  }

  static RecommendReply library(const RecommendRequest& r) {
    return served_->recommender().recommend({r})[0];
  }

  static testing::JsonReply get(const httplib::Params& params) {
    return testing::get_json(server_->port(), "/recommend", params);
  }
  static testing::JsonReply post(const std::string& body) {
    return testing::post_json(server_->port(), body);
  }

  static hybrec::testing::TempDir* dir_;
  static std::string* run_;
  static ServeProcess* server_;
  static ServedRun* served_;
};

hybrec::testing::TempDir* Http::dir_ = nullptr;
std::string* Http::run_ = nullptr;
ServeProcess* Http::server_ = nullptr;
ServedRun* Http::served_ = nullptr;

TEST_F(Http, GetAnswersAsTheLibraryDoes) {
  const std::string query = served_->title(11);  // words of the catalogue
  RecommendRequest r;
  r.user = 7;
  auto [status, body] = get({{"user", "7"}});
  ASSERT_EQ(status, 200) << body.dump();
  expect_reply(body, library(r));

  r.k = 5;
  r.query = query;
  r.recent_items = {3, 17, 42};
  r.exclude_seen = false;
  r.exclude_items = {5, 6};
  std::tie(status, body) = get({{"user", "7"},
                                {"k", "5"},
                                {"query", query},
                                {"items", "3,17,42"},
                                {"exclude_seen", "0"},
                                {"exclude", "5,6"}});
  ASSERT_EQ(status, 200) << body.dump();
  expect_reply(body, library(r));

  RecommendRequest visitor;  // no account: the session alone
  visitor.recent_items = {9};
  std::tie(status, body) = get({{"items", "9"}});
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_TRUE(body["new_user"].get<bool>());
  expect_reply(body, library(visitor));
}

TEST_F(Http, PostAndABatchAnswerAsTheLibraryDoes) {
  RecommendRequest r;
  r.user = 12;
  r.k = 7;
  r.query = served_->title(30);
  r.recent_items = {1, 2};
  r.exclude_items = {4};
  auto [status, body] = post(json{
      {"user", 12},
      {"k", 7},
      {"query", r.query},
      {"recent_items", {1, 2}},
      {"exclude_seen", true},
      {"exclude_items", {4}}}.dump());
  ASSERT_EQ(status, 200) << body.dump();
  expect_reply(body, library(r));

  std::vector<RecommendRequest> batch(3);
  batch[0].user = 1;
  batch[1].user = 2;
  batch[1].k = 3;
  batch[1].exclude_seen = false;
  batch[2].recent_items = {8, 9};
  batch[2].query = served_->title(40);
  const json requests = {{{"user", 1}},
                         {{"user", 2}, {"k", 3}, {"exclude_seen", false}},
                         {{"recent_items", {8, 9}}, {"query", batch[2].query}}};
  std::tie(status, body) = post(json{{"requests", requests}}.dump());
  ASSERT_EQ(status, 200) << body.dump();
  const std::vector<RecommendReply> want = served_->recommender().recommend(batch);
  ASSERT_EQ(body["replies"].size(), want.size()) << body.dump();
  for (std::size_t i = 0; i < want.size(); ++i) expect_reply(body["replies"][i], want[i]);
}

TEST_F(Http, ClientMistakesAre400NamingTheProblemAndTheServerKeepsServing) {
  struct Case {
    std::string body;  // POST body; empty: GET with `params`
    httplib::Params params;
    std::string words;  // what the error must say
  };
  const std::vector<Case> cases = {
      {"{\"user\": 1", {}, "malformed JSON"},
      {"[1, 2]", {}, "must be a JSON object"},
      {"{\"user\": \"seven\"}", {}, "field 'user' must be an integer, got \"seven\""},
      {"{\"user\": 1.5}", {}, "field 'user' must be an integer"},
      {"{\"k\": true}", {}, "field 'k' must be an integer"},
      {"{\"usr\": 1}", {}, "unknown field 'usr'"},
      {"{\"recent_items\": [1, \"x\"]}",
       {},
       "field 'recent_items[1]' must be an integer, got \"x\""},
      {"{\"exclude_seen\": 1}", {}, "field 'exclude_seen' must be true or false"},
      {"{\"query\": 5}", {}, "field 'query' must be a string"},
      {"{\"k\": 0}", {}, "k = 0 must be in [1, 200]"},
      {"{\"k\": 100000}", {}, "k = 100000 must be in [1, 200]"},
      {"{\"recent_items\": [999]}", {}, "recent item 999 is not an item of the catalogue"},
      {"{\"requests\": [{\"user\": 1}, {\"k\": -3}]}", {}, "request 1: k = -3"},
      {"{\"requests\": [], \"user\": 1}", {}, "unknown field 'user' next to 'requests'"},
      {"{\"requests\": []}", {}, "a batch holds 1 to 1024"},
      {"", {{"user", "x7"}}, "parameter 'user': 'x7' is not an integer"},
      {"", {{"items", "1,2.5"}}, "parameter 'items': '2.5' is not an integer id"},
      {"", {{"exclude", "-4"}}, "excluded item -4 is not an item"},
      {"", {{"k", "0"}}, "k = 0"},
      {"", {{"exclude_seen", "maybe"}}, "parameter 'exclude_seen': 'maybe'"},
      {"", {{"kk", "3"}}, "unknown parameter 'kk'"},
      {"", {{"k", "3"}, {"k", "4"}}, "parameter 'k' is given more than once"},
  };
  {
    auto res = client().Post("/recommend?user=3", "{}", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_NE(res->body.find("URL parameters (user=3) are for GET"), std::string::npos)
        << res->body;
  }
  for (const Case& c : cases) {
    const auto [status, body] = c.body.empty() ? get(c.params) : post(c.body);
    EXPECT_EQ(status, 400) << c.words;
    ASSERT_TRUE(body.contains("error")) << c.words << ": " << body.dump();
    EXPECT_NE(body["error"].get<std::string>().find(c.words), std::string::npos)
        << "wanted '" << c.words << "' in: " << body["error"].get<std::string>();
    // Still serving.
    RecommendRequest ok;
    ok.user = 3;
    const auto [ok_status, ok_body] = get({{"user", "3"}});
    ASSERT_EQ(ok_status, 200) << "after '" << c.words << "': " << ok_body.dump();
    expect_reply(ok_body, library(ok));
  }
}

TEST_F(Http, ConcurrentClientsAreAllAnswered) {
  RecommendRequest r;
  r.user = 5;
  const RecommendReply want = library(r);
  std::vector<std::thread> clients;
  std::atomic<int> answered{0};
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        const auto [status, body] = get({{"user", "5"}});
        if (status == 200 && body["items"].size() == want.items.size() &&
            body["items"][0]["item"].get<int64_t>() == want.items[0].item) {
          ++answered;
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(answered.load(), 100);
}

TEST_F(Http, ABodyOverTheLimitIs413AndAVeryLongQueryIsFine) {
  auto res = client().Post("/recommend", std::string(2 << 20, ' '), "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 413);
  EXPECT_NE(res->body.find("larger than the limit of 1048576 bytes"), std::string::npos)
      << res->body;

  // 100,000 characters of catalogue words: the encoder truncates, nothing fails.
  std::string query;
  while (query.size() < 100000)
    query += served_->title(static_cast<int64_t>(query.size() % 200)) + " ";
  RecommendRequest r;
  r.query = query;
  const auto [status, body] = post(json{{"query", query}}.dump());
  ASSERT_EQ(status, 200) << body.dump().substr(0, 500);
  expect_reply(body, library(r));
}

TEST_F(Http, UnknownPathsAre404NamingTheEndpoints) {
  auto res = client().Get("/recommendations");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_NE(res->body.find("no such endpoint: GET /recommendations"), std::string::npos)
      << res->body;
}

TEST_F(Http, HealthDescribesTheServedMatrix) {
  const auto [status, h] = testing::get_json(server_->port(), "/health");
  ASSERT_EQ(status, 200);
  const ServeHealth want = served_->health();
  EXPECT_EQ(h["status"], "ok");  // snapshot rows never go stale
  EXPECT_EQ(h["snapshot_version"], 1);
  EXPECT_EQ(h["num_items"], want.num_items);
  EXPECT_EQ(h["rows_from"], want.rows_from);
  EXPECT_EQ(h["step_dir"], want.step_dir);
  EXPECT_EQ(h["rebuild_failures"], 0);
  EXPECT_EQ(h["ps_errors"], 0);
  EXPECT_GE(h["snapshot_age_s"].get<double>(), 0.0);
}

TEST_F(Http, HealthSaysStalePastTheThreshold) {
  ServeProcess strict(
      {"--run", *run_, "--http-port", "0", "--threads", "1", "--stale-after-s", "0.001"},
      *dir_ / "strict.log");
  ASSERT_TRUE(strict.running());
  auto res = httplib::Client("127.0.0.1", strict.port()).Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body)["status"], "stale") << res->body;
  EXPECT_EQ(strict.stop(), 0);
}

TEST_F(Http, MetricsPassPromtoolAndCountEachOutcome) {
  const auto scrape = [] {
    auto res = client().Get("/metrics");
    EXPECT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return res->body;
  };
  const std::string ok = "hybrec_serve_requests_total{interface=\"http\",outcome=\"ok\"}";
  const std::string bad = "hybrec_serve_requests_total{interface=\"http\",outcome=\"bad_request\"}";
  const std::string count = "hybrec_serve_request_duration_seconds_count{interface=\"http\"}";
  const std::string before = scrape();
  ASSERT_EQ(get({{"user", "1"}}).first, 200);
  ASSERT_EQ(get({{"user", "2"}}).first, 200);
  ASSERT_EQ(get({{"k", "-1"}}).first, 400);
  const std::string after = scrape();
  EXPECT_EQ(metric(after, ok), metric(before, ok) + 2);
  EXPECT_EQ(metric(after, bad), metric(before, bad) + 1);
  EXPECT_EQ(metric(after, count), metric(before, count) + 3);
  EXPECT_EQ(metric(after, "hybrec_serve_catalogue_items"), 200);
  EXPECT_EQ(metric(after, "hybrec_serve_item_matrix_version"), 1);
  EXPECT_NE(after.find("# TYPE hybrec_serve_request_duration_seconds histogram"),
            std::string::npos);

  const auto found = hybrec::testing::run_command("command -v promtool");
  ASSERT_EQ(found.status, 0) << "promtool not found: it checks /metrics; install Debian's "
                                "`prometheus` package (scripts/setup-deps.sh)";
  const std::string file = *dir_ / "metrics.txt";
  std::ofstream(file) << after;
  const auto checked = hybrec::testing::run_command("promtool check metrics < " + file);
  EXPECT_EQ(checked.status, 0) << checked.output << "\n" << after;
}

TEST_F(Http, TheWebPageIsServedAtTheRoot) {
  auto res = client().Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(res->body.find("<form id=\"form\">"), std::string::npos);
  EXPECT_NE(res->body.find("fetch(\"/recommend?\""), std::string::npos);
}

TEST_F(Http, SigtermStopsTheServerWithExitZero) {
  ServeProcess other({"--run", *run_, "--http-port", "0"}, *dir_ / "other.log");
  ASSERT_TRUE(other.running());
  EXPECT_EQ(other.stop(), 0);
  std::ifstream log(*dir_ / "other.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("hybrec serve: stopped (signal 15)"), std::string::npos) << text;
}

TEST_F(Http, BadCommandLinesExitNonZeroNamingTheProblem) {
  const std::string bin = HYBREC_BIN;
  struct Case {
    std::string args, words;
  };
  const std::vector<Case> cases = {
      {"", "--run is required"},
      {"--run " + *run_ + " --bogus 1", "unknown flag --bogus"},
      {"--run " + *run_ + " --http-port 70000", "--http-port 70000 out of range"},
      {"--run " + *run_ + " --threads 0", "--threads 0 out of range"},
      {"--run " + *dir_ / "no-such-run", "no-such-run"},
      {"--run " + *run_ + " --ps 127.0.0.1", "127.0.0.1"},
      {"--run " + *run_ + " --ps 127.0.0.1:1 --http-port 0", "127.0.0.1:1"},
      {"--run " + *run_ + " --http-port " + std::to_string(server_->port()),
       "cannot listen for HTTP on 127.0.0.1:" + std::to_string(server_->port())},
  };
  for (const Case& c : cases) {
    // A command line that wrongly starts a server is stopped, and fails here.
    const auto r = hybrec::testing::run_command("timeout 60 " + bin + " serve " + c.args);
    EXPECT_NE(r.status, 0) << c.args;
    EXPECT_NE(r.output.find(c.words), std::string::npos)
        << "hybrec serve " << c.args << ": wanted '" << c.words << "' in:\n"
        << r.output;
  }
}

}  // namespace
}  // namespace hybrec::serving
