// The data commands refuse bad input by name and never lose data (issue
// 17): zero events is an error that leaves an existing output as it was;
// an output that is one of the inputs is refused; a NUL in a field is an
// error naming the file and line; a bad RecBole header likewise; a
// synthetic dataset too big for the machine is an error giving the sizes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "run_testing.h"

namespace hybrec::trainer {
namespace {

namespace fs = std::filesystem;
using testing::run_command;

const std::string kBin = HYBREC_BIN;

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

class DataCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    write(dir_ / "good.csv", "user,item\nu1,i1\nu1,i2\nu1,i3\nu2,i1\nu2,i2\nu2,i3\n");
    const auto r = import("good.csv --out " + out());
    ASSERT_EQ(r.status, 0) << r.output;
    before_ = bytes_of(out());
  }
  testing::CommandResult import(const std::string& args) {
    return run_command("cd " + dir_.path() + " && " + kBin + " data import csv --text-dim 0 " +
                       args);
  }
  std::string out() const { return dir_ / "out.h5"; }

  testing::TempDir dir_{"hybrec-data-command-test"};
  std::string before_;
};

TEST_F(DataCommand, EmptyOrHeaderOnlyCsvIsAnErrorAndTheOutputIsUntouched) {
  for (const std::string& bytes : {std::string(), std::string("user,item\n")}) {
    write(dir_ / "empty.csv", bytes);
    const auto r = import("empty.csv --out " + out());
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("empty.csv: no events to import"), std::string::npos) << r.output;
    EXPECT_EQ(bytes_of(out()), before_);
  }
}

TEST_F(DataCommand, HeaderOnlyMovieLensRatingsIsAnErrorAndTheOutputIsUntouched) {
  fs::create_directories(dir_ / "ml");
  write(dir_ / "ml/ratings.csv", "userId,movieId,rating,timestamp\n");
  const auto r = run_command(kBin + " data import movielens " + dir_ / "ml" + " --out " + out());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("ratings.csv: no events to import"), std::string::npos) << r.output;
  EXPECT_EQ(bytes_of(out()), before_);
}

TEST_F(DataCommand, AnOutputThatIsAnInputIsRefused) {
  const std::string input = bytes_of(dir_ / "good.csv");
  fs::create_directories(dir_ / "sub");
  fs::create_symlink(dir_ / "good.csv", dir_ / "link.csv");
  for (const std::string& spelling : {std::string("good.csv"), std::string("./sub/../good.csv"),
                                      dir_ / "good.csv", std::string("link.csv")}) {
    const auto r = import("good.csv --out " + spelling);
    EXPECT_EQ(r.status, 1) << spelling << ": " << r.output;
    EXPECT_NE(r.output.find("is the input file good.csv"), std::string::npos) << r.output;
    EXPECT_EQ(bytes_of(dir_ / "good.csv"), input);
  }
  write(dir_ / "text.csv", "item,text\ni1,one\n");
  const std::string text = bytes_of(dir_ / "text.csv");
  auto r = import("good.csv --text text.csv --out text.csv");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("is the input file text.csv"), std::string::npos) << r.output;
  EXPECT_EQ(bytes_of(dir_ / "text.csv"), text);

  fs::create_directories(dir_ / "ml");
  write(dir_ / "ml/ratings.csv", "userId,movieId,rating,timestamp\n1,2,5,10\n1,3,5,11\n");
  const std::string ratings = bytes_of(dir_ / "ml/ratings.csv");
  r = run_command(kBin + " data import movielens " + dir_ / "ml" + " --out " +
                  dir_ / "ml/ratings.csv");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("is the input file"), std::string::npos) << r.output;
  EXPECT_EQ(bytes_of(dir_ / "ml/ratings.csv"), ratings);
}

TEST_F(DataCommand, ANulInAFieldIsAnErrorNamingTheFileAndLine) {
  write(dir_ / "nul.csv", std::string("user,item\nu1,i1\nu\0002,i2\n", 23));
  auto r = import("nul.csv --out " + out());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("nul.csv line 3: user id 'u\\x002' holds control byte \\x00"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(bytes_of(out()), before_);

  fs::create_directories(dir_ / "ml");
  write(dir_ / "ml/ratings.csv",
        std::string("userId,movieId,rating,timestamp\n1\0002,3,5,10\n", 43));
  r = run_command(kBin + " data import movielens " + dir_ / "ml" + " --out " + out());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("ratings.csv line 2: user id '1\\x002' holds control byte \\x00"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(bytes_of(out()), before_);
}

TEST_F(DataCommand, RecboleImportWritesAndBadInputLeavesTheOutputUntouched) {
  fs::create_directories(dir_ / "rb");
  write(dir_ / "rb/Shop.inter",
        "user_id:token\titem_id:token\ttimestamp:float\nu\ta\t1\nu\tb\t1\nu\tc\t2\n");
  write(dir_ / "rb/Shop.item", "item_id:token\ttitle:token_seq\na\tRed pen\nb\tBlue pen\n");
  const std::string fresh = dir_ / "shop.h5";
  auto r = run_command(kBin + " data import recbole " + dir_ / "rb" + " --cold-fraction 0 --out " +
                       fresh);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("users         1\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("items         3 (0 cold, 2 with text)"), std::string::npos) << r.output;

  write(dir_ / "rb/Shop.inter", "user_id:token\titem_id:token\trating:int\nu\ta\t5\n");
  r = run_command(kBin + " data import recbole " + dir_ / "rb" + " --out " + out());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("Shop.inter line 1: header field 'rating:int' has unknown type 'int'"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(bytes_of(out()), before_);

  const std::string inter = bytes_of(dir_ / "rb/Shop.inter");
  r = run_command(kBin + " data import recbole " + dir_ / "rb" + " --out " +
                  dir_ / "rb/Shop.inter");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("is the input file"), std::string::npos) << r.output;
  EXPECT_EQ(bytes_of(dir_ / "rb/Shop.inter"), inter);
}

TEST_F(DataCommand, ASynthDatasetTooBigForTheMachineIsAnErrorGivingTheSizes) {
  const auto r = run_command(kBin + " data synth --items 67108864 --topics 67108864 --out " +
                             dir_ / "huge.h5");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("synth: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("needs about"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("available"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("bad_alloc"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "huge.h5"));
}

}  // namespace
}  // namespace hybrec::trainer
