// Online training end to end with the real `hybrec` binary, one rank with
// in-process shards: `hybrec publish` into a file log read back, an online
// run that changes the rows of streamed users, new items with text rows and
// their new_items.jsonl lines, and a run killed inside an online checkpoint
// and resumed that ends with the rows and parameters of an uninterrupted
// run over the same events (sync mode: the step is deterministic).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "run_testing.h"
#include "trainer/data/dataset.h"
#include "trainer/data/text_hash.h"
#include "trainer/data/time_order.h"
#include "trainer/eval/snapshot_rows.h"
#include "trainer/loop/train_checkpoint.h"
#include "trainer/model/id_tables.h"
#include "trainer/stream/event_source.h"

namespace hybrec::trainer {
namespace {

using namespace std::chrono_literals;
using testing::find_event;
using testing::read_metrics;
using testing::run_command;

const std::string kBin = HYBREC_BIN;
constexpr int64_t kDim = 32;  // model.dim's default
const char* kNewText[] = {"interstellar robot opera", "a quiet french garden comedy"};

class StreamRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir("hybrec-stream-test");
    auto r = run_command(kBin + " data synth --out " + data() +
                         " --users 300 --items 120 --events-per-user 12 --seed 4");
    ASSERT_EQ(r.status, 0) << r.output;
    std::ofstream(config()) << "[data]\npath = \"" << data() << "\"\n"
                            << "before_time_quantile = 0.7\n"
                            << "[train]\nbatch_size = 64\nnegatives = 4\nepochs = 1\nsync = true\n"
                               "keep_checkpoints = 1000\nlog_every_s = 60\nthreads = 1\n"
                               "[eval]\nmax_users = 100\n"
                               "[stream]\nbatch = 32\nmax_wait_ms = 20\ncheckpoint_every = 64\n"
                               "idle_stop_s = 0.5\n";
    // The stream: the events after the 70% quantile, with two new items
    // (one of them by a new user) among them, after positions 40 and 100.
    r = run_command(kBin + " publish --data " + data() + " --to file:" + (*dir_ / "published") +
                    " --from-time-quantile 0.7");
    ASSERT_EQ(r.status, 0) << r.output;
    const Dataset d = read_dataset(data());
    auto published = open_event_source("file:" + (*dir_ / "published"), {});
    auto sink = open_event_sink(stream());
    int64_t n = 0;
    for (const StreamEvent& e : published->poll(100000, 0ms)) {
      sink->publish(e);
      if (++n == 40 || n == 100) {
        StreamEvent fresh;
        fresh.user = n == 40 ? 3 : d.num_users + 7;
        fresh.item = d.num_items + (n == 40 ? 2 : 5);
        fresh.timestamp = e.timestamp;
        fresh.item_text = kNewText[n == 40 ? 0 : 1];
        sink->publish(fresh);
      }
    }
    ASSERT_GT(n, 200) << "the stream must outlast the checkpoints the tests kill and compare";
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string data() { return *dir_ / "synth.h5"; }
  static std::string config() { return *dir_ / "stream.toml"; }
  static std::string stream() { return "file:" + (*dir_ / "events.jsonl"); }

  static std::string train(const std::string& name, const std::string& args, int expect = 0,
                           const std::string& env = "") {
    const std::string out = *dir_ / name;
    const auto r = run_command(env + kBin + " train " + config() + " --out " + out + " " + args);
    if (expect >= 0) {
      EXPECT_EQ(r.status, expect) << r.output;
    }
    last_output_ = r.output;
    return out;
  }

  // Rows [keys, dim] of a table in the run's snapshot of `step`.
  static std::vector<float> rows(const std::string& run, int64_t step, const char* table,
                                 const std::vector<int64_t>& keys) {
    const TrainerState s = read_trainer_checkpoint(latest_checkpoint(run + "/checkpoints"));
    SnapshotRows snapshot(s.ps_dir, s.ps_run, step);
    std::vector<float> out(keys.size() * kDim);
    snapshot.fetcher()(table, keys.data(), static_cast<int64_t>(keys.size()), out.data());
    return out;
  }

  static testing::TempDir* dir_;
  static std::string last_output_;
};

testing::TempDir* StreamRun::dir_ = nullptr;
std::string StreamRun::last_output_;

std::vector<int64_t> range(int64_t n) {
  std::vector<int64_t> v(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST_F(StreamRun, PublishReplaysTheEventsAfterTheQuantileInTimeOrder) {
  const Dataset d = read_dataset(data());
  const int64_t from = time_quantile(d, 0.7);
  auto source = open_event_source("file:" + (*dir_ / "published"), {});
  const auto events = source->poll(100000, 0ms);
  const auto expected = events_in_time_order(d, from);
  ASSERT_EQ(events.size(), expected.size());
  std::set<int64_t> before;
  for (int64_t i = 0; i < d.num_interactions(); ++i) {
    if (d.timestamp[i] < from) before.insert(d.item[i]);
  }
  std::set<int64_t> texted;
  for (std::size_t k = 0; k < events.size(); ++k) {
    const int64_t i = expected[k];
    EXPECT_EQ(events[k].position, k + 1);
    EXPECT_EQ(events[k].user, d.user[i]);
    EXPECT_EQ(events[k].item, d.item[i]);
    EXPECT_EQ(events[k].timestamp, d.timestamp[i]);
    if (k > 0) {
      EXPECT_LE(events[k - 1].timestamp, events[k].timestamp);
    }
    // Only an item's first event, and only when the past never had it.
    const bool first = before.count(d.item[i]) == 0 && texted.insert(d.item[i]).second;
    EXPECT_EQ(events[k].item_text, first ? d.item_text[d.item[i]] : "") << k;
  }
  // --limit and --split, from the start: every item is new there, so its
  // first event carries its text.
  auto r = run_command(kBin + " publish --data " + data() + " --to file:" + (*dir_ / "few") +
                       " --split test --limit 5");
  ASSERT_EQ(r.status, 0) << r.output;
  auto few = open_event_source("file:" + (*dir_ / "few"), {});
  const auto first = few->poll(100, 0ms);
  ASSERT_EQ(first.size(), 5u);
  std::set<int64_t> items;
  for (const StreamEvent& e : first) {
    const bool new_here = items.insert(e.item).second;
    EXPECT_EQ(e.item_text, new_here ? d.item_text[e.item] : "");
    EXPECT_FALSE(d.item_text[e.item].empty());
  }
  r = run_command(kBin + " publish --data " + data() + " --to file:" + (*dir_ / "bad") +
                  " --split tset");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--split 'tset'"), std::string::npos) << r.output;
  r = run_command(kBin + " publish --data " + data() + " --to file:" + (*dir_ / "bad") +
                  " --from-time-quantile 1.5");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--from-time-quantile"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(*dir_ / "bad")) << "a refused publish wrote its stream";
}

TEST_F(StreamRun, AnOnlineRunTrainsTheStreamedUsersAndLogsNewItems) {
  const std::string run = train("online", "--stream " + stream());
  const auto metrics = read_metrics(run);
  const auto start = find_event(metrics, "stream_start"), end = find_event(metrics, "stream_end");
  ASSERT_FALSE(start.is_null());
  ASSERT_FALSE(end.is_null());
  const int64_t offline_steps = start["step"];
  const int64_t total = lines_of(*dir_ / "events.jsonl").size();
  EXPECT_EQ(end["events"], total);
  EXPECT_EQ(end["position"], total);
  EXPECT_EQ(end["new_items"], 2);
  EXPECT_EQ(end["step"].get<int64_t>(), offline_steps + (total + 31) / 32);
  EXPECT_FALSE(find_event(metrics, "eval", "test", "warm").is_null());

  const Dataset d = read_dataset(data());
  const TrainerState last = read_trainer_checkpoint(latest_checkpoint(run + "/checkpoints"));
  EXPECT_EQ(last.stream_url, stream());
  EXPECT_EQ(last.stream_position, total);
  EXPECT_EQ(last.stream_new_items, 2);
  EXPECT_EQ(last.catalogue_items, d.num_items + 2);
  EXPECT_EQ(result_checkpoint(run + "/checkpoints"), latest_checkpoint(run + "/checkpoints"))
      << "hybrec eval of an online run must load its newest model";

  // Every streamed user's row moved since the offline checkpoint.
  std::set<int64_t> users;
  auto source = open_event_source(stream(), {});
  for (const StreamEvent& e : source->poll(100000, 0ms)) users.insert(e.user);
  const std::vector<int64_t> streamed(users.begin(), users.end());
  const auto before = rows(run, offline_steps, kUserTable, streamed);
  const auto after = rows(run, last.step, kUserTable, streamed);
  for (std::size_t u = 0; u < streamed.size(); ++u) {
    EXPECT_FALSE(std::equal(before.begin() + u * kDim, before.begin() + (u + 1) * kDim,
                            after.begin() + u * kDim))
        << "user " << streamed[u] << " was streamed but its row did not change";
  }
  // The new items: trained rows, and one line each with the text vector
  // of the dataset's encoder, fitted on the dataset's texts.
  const std::vector<int64_t> fresh = {d.num_items + 2, d.num_items + 5};
  EXPECT_NE(rows(run, offline_steps, kItemTable, fresh), rows(run, last.step, kItemTable, fresh));
  const auto log = lines_of(run + "/online/new_items.jsonl");
  ASSERT_EQ(log.size(), 2u);
  const HashingEncoder encoder(d.item_text, d.text_dim);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto line = nlohmann::json::parse(log[i]);
    EXPECT_EQ(line["item"], fresh[i]);
    EXPECT_EQ(line["text"], kNewText[i]);
    EXPECT_EQ(line["emb"].get<std::vector<float>>(), encoder.encode(kNewText[i]));
  }
}

TEST_F(StreamRun, AKilledOnlineRunResumesWithoutLosingOrRepeatingAnEvent) {
  const std::string whole = train("whole", "--stream " + stream());
  const auto wm = read_metrics(whole);
  const int64_t offline_steps = find_event(wm, "stream_start")["step"];
  // Killed inside the checkpoint after 128 events (steps of 32 events),
  // after the second new item came: `latest` stays at 64 events, and the
  // killed run had already pushed the rows of events 65-128 and written
  // the second new item's line.
  const int64_t kill_step = offline_steps + 4;
  const std::string parts =
      train("parts", "--stream " + stream(), -1,
            "HYBREC_FAULT=kill-in-checkpoint:" + std::to_string(kill_step) + " ");
  ASSERT_NE(last_output_.find("killing this rank"), std::string::npos) << last_output_;
  const TrainerState killed = read_trainer_checkpoint(latest_checkpoint(parts + "/checkpoints"));
  ASSERT_EQ(killed.stream_position, 64);
  ASSERT_EQ(lines_of(parts + "/online/new_items.jsonl").size(), 2u);
  train("parts", "--stream " + stream() + " --resume " + parts);

  const TrainerState w = read_trainer_checkpoint(latest_checkpoint(whole + "/checkpoints"));
  const TrainerState p = read_trainer_checkpoint(latest_checkpoint(parts + "/checkpoints"));
  EXPECT_EQ(p.step, w.step);
  EXPECT_EQ(p.stream_position, w.stream_position);
  EXPECT_EQ(p.stream_events, w.stream_events);
  EXPECT_EQ(p.stream_new_items, 2);
  EXPECT_EQ(p.params, w.params);
  EXPECT_EQ(p.adam_m, w.adam_m);
  const Dataset d = read_dataset(data());
  EXPECT_EQ(rows(parts, p.step, kUserTable, range(d.num_users + 8)),
            rows(whole, w.step, kUserTable, range(d.num_users + 8)));
  EXPECT_EQ(rows(parts, p.step, kItemTable, range(d.num_items + 6)),
            rows(whole, w.step, kItemTable, range(d.num_items + 6)));
  EXPECT_EQ(lines_of(parts + "/online/new_items.jsonl"),
            lines_of(whole + "/online/new_items.jsonl"));
}

TEST_F(StreamRun, BadStreamsAreRefusedBeforeAnythingIsWritten) {
  std::string run = train("bad-scheme", "--stream kafka://host/topic", 1);
  EXPECT_NE(last_output_.find("unknown scheme"), std::string::npos) << last_output_;
  EXPECT_FALSE(std::filesystem::exists(run));
  run = train("missing", "--stream file:" + (*dir_ / "no-such-log"), 1);
  EXPECT_NE(last_output_.find("no-such-log"), std::string::npos) << last_output_;
  EXPECT_FALSE(std::filesystem::exists(run));
  train("no-stream", "--set train.epochs=0", 1);
  EXPECT_NE(last_output_.find("train.epochs = 0"), std::string::npos) << last_output_;
  // A dataset embedded by a language model: new items' text needs that model.
  Dataset bert = read_dataset(data());
  bert.text_encoder = "all-MiniLM-L6-v2";
  write_dataset(bert, *dir_ / "bert.h5");
  run = train("bert", "--stream " + stream() + " --data " + (*dir_ / "bert.h5"), 1);
  EXPECT_NE(last_output_.find("'all-MiniLM-L6-v2'"), std::string::npos) << last_output_;
  EXPECT_NE(last_output_.find("stream.text_model"), std::string::npos) << last_output_;
  EXPECT_FALSE(std::filesystem::exists(run));
  // A resumed run must read the stream its checkpoint's position belongs to
  // (this one stopped after exactly stream.stop_after events: 32 + 8).
  run = train("other-stream", "--stream " + stream() + " --set stream.stop_after=40");
  EXPECT_EQ(find_event(read_metrics(run), "stream_end")["events"], 40);
  train("other-stream", "--stream file:" + (*dir_ / "published") + " --resume " + run, 1);
  EXPECT_NE(last_output_.find("was trained on stream"), std::string::npos) << last_output_;
}

}  // namespace
}  // namespace hybrec::trainer
