// The RecBole atomic-file importer. Expected values are worked out by hand
// from each fixture.
#include "trainer/data/recbole_import.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "trainer/data/data_testing.h"

namespace hybrec::trainer {
namespace {

using testing::error_of;
using testing::ScratchDir;

ImportOptions plain() { return testing::plain_import_options(); }

TEST(RecboleImport, IdsInFirstSeenOrderAndTextFromTokenSeqColumns) {
  ScratchDir dir;
  testing::write_text(dir.file("Shop.inter"),
                      "user_id:token\titem_id:token\trating:float\ttimestamp:float\t"
                      "session:token_seq\n"
                      "u7\tpen\t5\t300\ta b\n"
                      "u3\tink\t4\t100\tc\n"
                      "u7\tink\t3\t200\t\n"
                      "u3\tpad\t5\t150\td\n");
  // brand is a token column and price a float: neither is text. The
  // stapler is only in the .item file; ink has no .item row.
  testing::write_text(dir.file("Shop.item"),
                      "item_id:token\ttitle:token_seq\tbrand:token\tprice:float\t"
                      "categories:token_seq\n"
                      "pad\tYellow  legal pad \tAcme\t2.5\tPaper Office\n"
                      "stapler\tHeavy duty stapler\tBolt\t9\tOffice\n"
                      "pen\tGel pen\tPilot\t1.2\t\n");
  const Dataset d = import_recbole(dir.path(), plain());
  EXPECT_EQ(d.name, "Shop");
  // Users: u7 = 0, u3 = 1. Items: pen = 0, ink = 1, pad = 2, stapler = 3.
  EXPECT_EQ(d.num_users, 2);
  EXPECT_EQ(d.num_items, 4);
  EXPECT_EQ(d.user, (std::vector<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(d.item, (std::vector<int64_t>{1, 0, 1, 2}));
  EXPECT_EQ(d.timestamp, (std::vector<int64_t>{200, 300, 100, 150}));
  EXPECT_EQ(d.rating, (std::vector<float>{3, 5, 4, 5}));
  EXPECT_EQ(d.item_text, (std::vector<std::string>{"Gel pen", "", "Yellow legal pad Paper Office",
                                                   "Heavy duty stapler Office"}));
  EXPECT_EQ(d.text_dim, 8);
  EXPECT_EQ(d.item_text_emb.size(), 4u * 8u);
}

TEST(RecboleImport, EqualTimestampsKeepFileOrder) {
  // 100 events of one user, each on a new item (so item k is the k-th
  // event), alternating between day 10 and day 20 in the file: time order
  // puts the even events first, each half in file order. 100 is past the
  // size at which std::sort stops being an insertion sort.
  std::string inter = "user_id:token\titem_id:token\ttimestamp:float\n";
  for (int k = 0; k < 100; ++k) {
    inter += "a\ti" + std::to_string((k * 37) % 100) + "\t" + (k % 2 ? "20" : "10") + "\n";
  }
  ScratchDir dir;
  testing::write_text(dir.file("Day.inter"), inter);
  const Dataset d = import_recbole(dir.path(), plain());
  std::vector<int64_t> want;
  for (int k = 0; k < 100; k += 2) want.push_back(k);
  for (int k = 1; k < 100; k += 2) want.push_back(k);
  EXPECT_EQ(d.item, want);
  EXPECT_EQ(d.split[98], Split::kValid);
  EXPECT_EQ(d.split[99], Split::kTest);
  EXPECT_EQ(d.item[99], 99);
}

TEST(RecboleImport, WithoutTimestampFileOrderOrdersEventsAndRatingIsOne) {
  ScratchDir dir;
  testing::write_text(dir.file("Plain.inter"),
                      "item_id:token\tuser_id:token\n"
                      "x\tb\n"
                      "y\ta\n"
                      "z\tb\n"
                      "x\ta\n");
  const Dataset d = import_recbole(dir.path(), plain());
  // b = 0, a = 1; x = 0, y = 1, z = 2.
  EXPECT_EQ(d.user, (std::vector<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(d.item, (std::vector<int64_t>{0, 2, 1, 0}));
  EXPECT_EQ(d.rating, (std::vector<float>(4, 1.0f)));
  EXPECT_EQ(d.item_text, (std::vector<std::string>(3, "")));
}

TEST(RecboleImport, RatingThresholdKeepsOnlyHighRatings) {
  ScratchDir dir;
  testing::write_text(dir.file("R.inter"),
                      "user_id:token\titem_id:token\trating:float\n"
                      "low\tp\t2\n"
                      "high\tq\t4\n"
                      "high\tp\t3.5\n"
                      "high\tr\t5\n");
  testing::write_text(dir.file("R.item"), "item_id:token\tname:token_seq\np\tPee\n");
  ImportOptions options = plain();
  options.rating_threshold = 4;
  const Dataset d = import_recbole(dir.path(), options);
  // Only high's q and r are kept: high = 0; q = 0, r = 1, then p (only in
  // the .item file now) = 2.
  EXPECT_EQ(d.num_users, 1);
  EXPECT_EQ(d.num_items, 3);
  EXPECT_EQ(d.item, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(d.rating, (std::vector<float>{4, 5}));
  EXPECT_EQ(d.item_text, (std::vector<std::string>{"", "", "Pee"}));
}

TEST(RecboleImport, QuotesAreOrdinaryCharacters) {
  ScratchDir dir;
  testing::write_text(dir.file("Q.inter"), "user_id:token\titem_id:token\nu\t\"r\n");
  testing::write_text(dir.file("Q.item"),
                      "item_id:token\ttitle:token_seq\n\"r\t\"Fine\" 12\" ruler\n");
  const Dataset d = import_recbole(dir.path(), plain());
  EXPECT_EQ(d.item_text, (std::vector<std::string>{"\"Fine\" 12\" ruler"}));
}

TEST(RecboleImport, FractionalTimestampsAreWholeSeconds) {
  ScratchDir dir;
  testing::write_text(dir.file("T.inter"),
                      "user_id:token\titem_id:token\ttimestamp:float\n"
                      "u\ti\t1.5e9\n"
                      "u\tj\t1500000000.75\n");
  const Dataset d = import_recbole(dir.path(), plain());
  EXPECT_EQ(d.timestamp, (std::vector<int64_t>{1500000000, 1500000000}));
  EXPECT_EQ(d.item, (std::vector<int64_t>{0, 1}));
}

// Each bad .inter file and the start of the message it must give, after
// the file's path.
struct BadInter {
  std::string bytes;
  std::string message;
};

TEST(RecboleImport, BadInterFileIsNamedWithItsLine) {
  const std::string head = "user_id:token\titem_id:token\trating:float\n";
  const std::vector<BadInter> cases = {
      {"user_id:token\trating:float\nu\t5\n",
       "Bad.inter line 1: header has no item_id:token field (required)"},
      {"user_id:token\titem_id:token\trating:int\nu\ti\t5\n",
       "Bad.inter line 1: header field 'rating:int' has unknown type 'int'"},
      {"user_id\titem_id:token\nu\ti\n", "Bad.inter line 1: header field 'user_id' has no :type"},
      {"user_id:float\titem_id:token\n1\ti\n",
       "Bad.inter line 1: field 'user_id' has type float, expected user_id:token"},
      {"user_id:token\titem_id:token\tuser_id:token\nu\ti\tv\n",
       "Bad.inter line 1: header names field 'user_id' twice"},
      {head + "u1\ti1\t5\n" + std::string("u\0002\ti2\t5\n", 9),
       "Bad.inter line 3: user_id 'u\\x002' holds control byte \\x00"},
      {"user_id:token\titem_id:token\tnote:token_seq\nu\ti\tbell\x07\n",
       "Bad.inter line 2: note 'bell\\x07' holds control byte \\x07"},
      {head + "u\ti\t4.x\n", "Bad.inter line 2: rating '4.x' is not a number"},
      {"user_id:token\titem_id:token\ttimestamp:float\nu\ti\t1\nu\tj\tmonday\n",
       "Bad.inter line 3: timestamp 'monday' is not a number"},
      {head + "u\ti\t5\n\nu\tj\n", "Bad.inter line 4: expected 3 tab-separated fields"},
      {head + "u\ti\t5\tx\n", "Bad.inter line 2: expected 3 tab-separated fields"},
      {head + "\ti\t5\n", "Bad.inter line 2: empty user_id"},
      {head, "Bad.inter: no events to import (a header and no records)"},
      {"", "Bad.inter: the file is empty"},
  };
  for (const BadInter& c : cases) {
    ScratchDir dir;
    testing::write_text(dir.file("Bad.inter"), c.bytes);
    const std::string msg = error_of([&] { import_recbole(dir.path(), plain()); });
    EXPECT_NE(msg.find(dir.file(c.message)), std::string::npos)
        << "want: " << c.message << "\ngot:  " << msg;
  }
}

TEST(RecboleImport, NoEventAboveTheThresholdIsAnError) {
  ScratchDir dir;
  testing::write_text(dir.file("Low.inter"),
                      "user_id:token\titem_id:token\trating:float\nu\ti\t1\nu\tj\t3\n");
  ImportOptions options = plain();
  options.rating_threshold = 4;
  const std::string msg = error_of([&] { import_recbole(dir.path(), options); });
  EXPECT_NE(msg.find(dir.file("Low.inter: no events to import (2 records read, none rated >= 4)")),
            std::string::npos)
      << msg;
}

TEST(RecboleImport, BadItemFileIsNamedWithItsLine) {
  const std::vector<BadInter> cases = {
      {"id:token\ttitle:token_seq\ni\tone\n",
       "Bad.item line 1: header has no item_id:token field (required)"},
      {"item_id:token\ttitle:token_seq\ni\tone\nj\ttwo\ni\tagain\n",
       "Bad.item line 4: item_id 'i' is listed again (first on line 2)"},
      {"item_id:token\ttitle:token_seq\ni\tone\tmore\n",
       "Bad.item line 2: expected 2 tab-separated fields"},
      {"item_id:token\ttitle:token_seq\ni\t" + std::string("o\0ne\n", 5),
       "Bad.item line 2: title 'o\\x00ne' holds control byte \\x00"},
      {"item_id:token\ttitle:text\ni\tone\n",
       "Bad.item line 1: header field 'title:text' has unknown type 'text'"},
  };
  for (const BadInter& c : cases) {
    ScratchDir dir;
    testing::write_text(dir.file("Bad.inter"), "user_id:token\titem_id:token\nu\ti\n");
    testing::write_text(dir.file("Bad.item"), c.bytes);
    const std::string msg = error_of([&] { import_recbole(dir.path(), plain()); });
    EXPECT_NE(msg.find(dir.file(c.message)), std::string::npos)
        << "want: " << c.message << "\ngot:  " << msg;
  }
}

TEST(RecboleImport, DirectoryMustHoldOneInterAndAMatchingItem) {
  ScratchDir dir;
  std::string msg = error_of([&] { import_recbole(dir.path(), plain()); });
  EXPECT_NE(msg.find(dir.path() + " holds no .inter file"), std::string::npos) << msg;

  msg = error_of([&] { import_recbole(dir.file("missing"), plain()); });
  EXPECT_NE(msg.find(dir.file("missing") + " is not a directory"), std::string::npos) << msg;

  testing::write_text(dir.file("A.inter"), "user_id:token\titem_id:token\nu\ti\n");
  testing::write_text(dir.file("B.item"), "item_id:token\ttitle:token_seq\ni\tone\n");
  msg = error_of([&] { import_recbole(dir.path(), plain()); });
  EXPECT_NE(msg.find("holds B.item but no A.item"), std::string::npos) << msg;

  testing::write_text(dir.file("B.inter"), "user_id:token\titem_id:token\nu\ti\n");
  msg = error_of([&] { import_recbole(dir.path(), plain()); });
  EXPECT_NE(msg.find("holds 2 .inter files (A.inter B.inter); expected one"), std::string::npos)
      << msg;
}

}  // namespace
}  // namespace hybrec::trainer
