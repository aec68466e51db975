// `hybrec report` on run directories this test writes: the accuracy table
// (warm, cold, cold_all; baselines as their own rows), the beyond-accuracy
// table ("-" where a run logged none), --plot's PNG, and the errors.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "testing/command.h"
#include "testing/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using hybrec::testing::run_command;
using hybrec::testing::TempDir;

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A run with training curves, test results with the beyond-accuracy keys on
// warm and cold (not on cold_all), and a popularity baseline from `hybrec
// eval`; a `hybrec eval` of the checkpoint too, which must not replace the
// run's own results.
constexpr const char* kHybridMetrics =
    R"({"event":"start","step":0,"ranks":2}
{"event":"train","step":50,"loss":0.693,"lr":0.01,"samples_per_s":900.0}
{"event":"eval","split":"valid","subset":"warm","hr@10":0.1,"ndcg@10":0.05,"mrr":0.04,"auc":0.7,"users":64,"step":50}
{"event":"train","step":100,"loss":0.5,"lr":0.01,"samples_per_s":950.0}
{"event":"eval","split":"valid","subset":"warm","hr@10":0.15,"ndcg@10":0.07,"mrr":0.05,"auc":0.75,"users":64,"step":100}
{"event":"throughput","samples_per_s":4321.0,"ranks":2,"steps":100,"seconds":1.5}

{"event":"eval","split":"test","subset":"warm","hr@10":0.2345,"ndcg@10":0.1234,"mrr":0.1,"auc":0.8,"users":64,"step":100,"coverage@10":0.4321,"gini@10":0.6543,"pop_pct@10":0.8765,"new_share@10":0.0123,"ild@10":0.7777,"novelty@10":9.8765}
{"event":"eval","split":"test","subset":"cold","hr@10":0.3456,"ndcg@10":0.2222,"mrr":0.1,"auc":0.8,"users":32,"step":100,"coverage@10":0.5111,"gini@10":0.4222,"pop_pct@10":0.3333,"new_share@10":1.0,"ild@10":0.6444,"novelty@10":11.5555}
{"event":"eval","split":"test","subset":"cold_all","hr@10":0.0456,"ndcg@10":0.0333,"mrr":0.1,"auc":0.8,"users":32,"step":100}
{"event":"eval","split":"test","subset":"warm","hr@10":0.1111,"ndcg@10":0.0555,"mrr":0.05,"auc":0.6,"users":64,"step":100,"source":"hybrec eval","model":"popularity","coverage@10":0.0101,"gini@10":0.9909,"pop_pct@10":0.9999,"new_share@10":0.0,"ild@10":0.2020,"novelty@10":4.0404}
{"event":"eval","split":"test","subset":"cold_all","hr@10":0.0011,"ndcg@10":0.0005,"mrr":0.05,"auc":0.6,"users":32,"step":100,"source":"hybrec eval","model":"popularity"}
{"event":"eval","split":"test","subset":"warm","hr@10":0.9876,"ndcg@10":0.9876,"mrr":0.9,"auc":0.9,"users":64,"step":100,"source":"hybrec eval","model":"checkpoint"}
)";

// An older run: warm and cold only, no beyond-accuracy keys.
constexpr const char* kOldMetrics =
    R"({"event":"train","step":10,"loss":0.7}
{"event":"eval","split":"valid","subset":"warm","hr@10":0.08,"ndcg@10":0.04,"mrr":0.03,"auc":0.6,"users":64,"step":10}
{"event":"throughput","samples_per_s":8765.0,"ranks":1,"steps":10,"seconds":0.5}
{"event":"eval","split":"test","subset":"warm","hr@10":0.1987,"ndcg@10":0.0987,"mrr":0.07,"auc":0.7,"users":64,"step":10}
{"event":"eval","split":"test","subset":"cold","hr@10":0.0123,"ndcg@10":0.0045,"mrr":0.01,"auc":0.5,"users":32,"step":10}
)";

class ReportCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(tmp_ / "hybrid");
    fs::create_directories(tmp_ / "old");
    fs::create_directories(tmp_ / "scratch");
    write_file(tmp_ / "hybrid/metrics.jsonl", kHybridMetrics);
    write_file(tmp_ / "old/metrics.jsonl", kOldMetrics);
  }

  // `hybrec report ARGS` with TMPDIR in this test's directory (so the
  // plot's scratch directory can be seen to go) and `env` before it.
  hybrec::testing::CommandResult report(const std::string& args, const std::string& env = "") {
    return run_command("TMPDIR=" + (tmp_ / "scratch") + " " + env + " " + HYBREC_BIN + " report " +
                       args);
  }
  std::string runs() const { return (tmp_ / "hybrid") + " " + (tmp_ / "old"); }
  bool scratch_empty() const { return fs::is_empty(tmp_ / "scratch"); }

  // PATH with a fake `gnuplot` first, which writes `png_bytes` to the file
  // its script names in `set output '...'` and exits with `status`.
  std::string fake_gnuplot(const std::string& png_bytes, int status) {
    const std::string bin = tmp_ / "fakebin";
    fs::create_directories(bin);
    const std::string script = R"(#!/bin/sh
out=$(sed -n "s/^set output '\(.*\)'$/\1/p" "$1")
[ -n "$out" ] || { echo 'fake gnuplot: no set output' >&2; exit 9; }
printf 'BYTES' > "$out"
echo 'plot.gp line 3: boom' >&2
exit STATUS
)";
    std::string text = script;
    text.replace(text.find("BYTES"), 5, png_bytes);
    text.replace(text.find("STATUS"), 6, std::to_string(status));
    write_file(bin + "/gnuplot", text);
    fs::permissions(bin + "/gnuplot", fs::perms::owner_all);
    const char* path = std::getenv("PATH");
    return "PATH=" + bin + ":" + (path != nullptr ? path : "/usr/bin:/bin");
  }

  TempDir tmp_{"hybrec-report-test"};
};

// The rows of the two tables, each split into words, by their first words:
// "model" for the accuracy table, "model subset" for the second.
struct Tables {
  std::map<std::string, std::vector<std::string>> accuracy, beyond;
};

Tables parse_tables(const std::string& output) {
  Tables t;
  std::istringstream lines(output);
  std::string line;
  int table = 0;    // 1 accuracy, 2 beyond accuracy: the headers seen
  bool in = false;  // between a header and the blank line ending its table
  while (std::getline(lines, line)) {
    std::istringstream words_in(line);
    std::vector<std::string> words{std::istream_iterator<std::string>(words_in), {}};
    if (words.empty()) {
      in = false;
    } else if (words[0] == "model") {
      ++table;
      in = true;
    } else if (in && table == 1) {
      t.accuracy[words[0]] = words;
    } else if (in && table == 2 && words.size() > 1) {
      t.beyond[words[0] + " " + words[1]] = words;
    }
  }
  return t;
}

using Row = std::vector<std::string>;

TEST_F(ReportCommand, AccuracyTableHasWarmColdAndColdAllPerModelAndBaseline) {
  const auto r = report(runs());
  ASSERT_EQ(r.status, 0) << r.output;
  const Tables t = parse_tables(r.output);
  EXPECT_EQ(t.accuracy.size(), 3u) << r.output;  // hybrid, hybrid/popularity, old
  // model, warm HR NDCG, cold HR NDCG, cold_all HR NDCG, samples/s, ranks
  EXPECT_EQ(t.accuracy.at("hybrid"), (Row{"hybrid", "0.2345", "0.1234", "0.3456", "0.2222",
                                          "0.0456", "0.0333", "4321", "2"}))
      << r.output;
  EXPECT_EQ(t.accuracy.at("hybrid/popularity"),
            (Row{"hybrid/popularity", "0.1111", "0.0555", "-", "-", "0.0011", "0.0005", "-", "-"}))
      << r.output;
  EXPECT_EQ(t.accuracy.at("old"),
            (Row{"old", "0.1987", "0.0987", "0.0123", "0.0045", "-", "-", "8765", "1"}))
      << r.output;
  EXPECT_EQ(r.output.find("0.9876"), std::string::npos)
      << "the checkpoint's `hybrec eval` replaced the run's own results:\n"
      << r.output;
}

TEST_F(ReportCommand, BeyondAccuracyTableShowsLoggedKeysAndDashesForAbsentOnes) {
  const auto r = report(runs());
  ASSERT_EQ(r.status, 0) << r.output;
  const Tables t = parse_tables(r.output);
  const Row dashes = {"-", "-", "-", "-", "-", "-"};
  auto metrics = [&](const std::string& key) {
    const Row& row = t.beyond.at(key);
    return Row(row.begin() + 2, row.end());
  };
  EXPECT_EQ(metrics("hybrid warm"),
            (Row{"0.4321", "0.6543", "0.8765", "0.0123", "0.7777", "9.8765"}))
      << r.output;
  EXPECT_EQ(metrics("hybrid cold"),
            (Row{"0.5111", "0.4222", "0.3333", "1.0000", "0.6444", "11.5555"}))
      << r.output;
  EXPECT_EQ(metrics("hybrid cold_all"), dashes) << r.output;
  EXPECT_EQ(metrics("hybrid/popularity warm"),
            (Row{"0.0101", "0.9909", "0.9999", "0.0000", "0.2020", "4.0404"}))
      << r.output;
  EXPECT_EQ(metrics("hybrid/popularity cold_all"), dashes) << r.output;
  EXPECT_EQ(metrics("old warm"), dashes) << r.output;
  EXPECT_EQ(metrics("old cold"), dashes) << r.output;
  EXPECT_EQ(t.beyond.count("old cold_all"), 0u) << "a subset never evaluated has no row";
  for (const char* header :
       {"coverage@10", "gini@10", "pop_pct@10", "new_share@10", "ild@10", "novelty@10"}) {
    EXPECT_NE(r.output.find(header), std::string::npos) << header << "\n" << r.output;
  }
}

// A directory that `hybrec eval RUN --out DIR` wrote into holds only the
// checkpoint's results: they are its row.
TEST_F(ReportCommand, CheckpointEvalIsTheRowOfADirectoryWithoutTrainingResults) {
  fs::create_directories(tmp_ / "evals");
  write_file(
      tmp_ / "evals/metrics.jsonl",
      R"({"event":"eval","split":"test","subset":"cold_all","hr@10":0.0789,"ndcg@10":0.0456,"step":7,"source":"hybrec eval","model":"checkpoint"}
)");
  const auto r = report(tmp_ / "evals");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(parse_tables(r.output).accuracy.at("evals"),
            (Row{"evals", "-", "-", "-", "-", "0.0789", "0.0456", "-", "-"}))
      << r.output;
}

// A directory that only `hybrec eval --baseline NAME --out DIR` wrote into:
// the baseline's row, and no empty row for a model the directory lacks.
TEST_F(ReportCommand, ADirectoryOfBaselinesOnlyHasNoRowOfItsOwn) {
  fs::create_directories(tmp_ / "pop");
  write_file(
      tmp_ / "pop/metrics.jsonl",
      R"({"event":"eval","split":"test","subset":"warm","hr@10":0.0123,"ndcg@10":0.0045,"step":7,"source":"hybrec eval","model":"popularity"}
)");
  const auto r = report(tmp_ / "pop");
  ASSERT_EQ(r.status, 0) << r.output;
  const Tables t = parse_tables(r.output);
  EXPECT_EQ(t.accuracy.count("pop"), 0u) << r.output;
  EXPECT_EQ(t.accuracy.at("pop/popularity"),
            (Row{"pop/popularity", "0.0123", "0.0045", "-", "-", "-", "-", "-", "-"}))
      << r.output;
}

bool have_gnuplot() { return run_command("command -v gnuplot").status == 0; }

uint32_t big_endian(const std::string& bytes, std::size_t at) {
  uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

TEST_F(ReportCommand, PlotWritesAPngOfTheRequestedSize) {
  if (!have_gnuplot()) GTEST_SKIP() << "gnuplot is not installed (Debian package gnuplot-nox)";
  const std::string png = tmp_ / "out.png";
  const auto r = report(runs() + " --plot " + png + " --plot-size 640x480");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string bytes = read_file(png);
  ASSERT_GE(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(bytes.substr(12, 4), "IHDR");  // the first chunk: width, height (big-endian)
  EXPECT_EQ(big_endian(bytes, 16), 640u);
  EXPECT_EQ(big_endian(bytes, 20), 480u);
  EXPECT_FALSE(fs::exists(png + ".tmp"));
  EXPECT_TRUE(scratch_empty()) << "the plot's temporary directory was left behind";
}

TEST_F(ReportCommand, FailedPlotLeavesNoFile) {
  const std::string png = tmp_ / "out.png";
  // gnuplot starts writing its PNG, then fails.
  auto r = report(runs() + " --plot " + png, fake_gnuplot("\\211PNG\\r\\n", 3));
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("boom"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(png));
  EXPECT_FALSE(fs::exists(png + ".tmp"));
  EXPECT_TRUE(scratch_empty());

  // gnuplot says it succeeded but wrote no PNG; an older plot stays as it was.
  write_file(png, "the previous plot");
  r = report(runs() + " --plot " + png, fake_gnuplot("not a png", 0));
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("wrote no PNG"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(png), "the previous plot");
  EXPECT_FALSE(fs::exists(png + ".tmp"));
  EXPECT_TRUE(scratch_empty());
}

TEST_F(ReportCommand, PlotWithoutGnuplotNamesThePackage) {
  const std::string png = tmp_ / "out.png";
  fs::create_directories(tmp_ / "emptybin");
  const auto r = report(runs() + " --plot " + png, "PATH=" + (tmp_ / "emptybin"));
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("gnuplot-nox"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(png));
  EXPECT_FALSE(fs::exists(png + ".tmp"));
}

TEST_F(ReportCommand, BadInputIsAnErrorThatNamesIt) {
  const std::string missing = tmp_ / "no-such-run";
  auto r = report(runs() + " " + missing);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(missing + " does not exist"), std::string::npos) << r.output;

  fs::create_directories(tmp_ / "bad");
  write_file(tmp_ / "bad/metrics.jsonl", "{\"event\":\"train\",\"step\":1,\"loss\":0.5}\n{oops\n");
  r = report(tmp_ / "bad");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find((tmp_ / "bad/metrics.jsonl") + " line 2"), std::string::npos) << r.output;

  write_file(tmp_ / "bad/metrics.jsonl",
             "{\"event\":\"eval\",\"split\":\"test\",\"subset\":\"warm\",\"hr@10\":\"high\"}\n");
  r = report(tmp_ / "bad");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("line 1: \"hr@10\""), std::string::npos) << r.output;

  // A --plot path under a regular file cannot be written (even by root).
  write_file(tmp_ / "a-file", "x");
  const std::string unwritable = tmp_ / "a-file/out.png";
  r = report(runs() + " --plot " + unwritable);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(unwritable), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp_ / "a-file/out.png"));
}

}  // namespace
