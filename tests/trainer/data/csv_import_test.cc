// The generic CSV importer.
#include "trainer/data/csv_import.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "trainer/data/data_testing.h"

namespace hybrec::trainer {
namespace {

using testing::error_of;
using testing::ScratchDir;

ImportOptions plain() { return testing::plain_import_options(); }

TEST(CsvImport, HeaderNamesColumnsInAnyOrderAndStringIdsAreRemapped) {
  ScratchDir dir;
  testing::write_text(dir.file("events.csv"),
                      "timestamp,item_id,user_id,rating\n"
                      "30,bread,alice,5\n"
                      "10,milk,bob,2\n"
                      "20,milk,alice,4\n");
  testing::write_text(dir.file("text.csv"), "item,text\nmilk,\"Milk, whole\"\ntea,Green tea\n");
  ImportOptions options = plain();
  options.rating_threshold = 3;
  const Dataset d = import_csv(dir.file("events.csv"), dir.file("text.csv"), options);
  EXPECT_EQ(d.name, "events");
  // alice = 0; bob's only event is below the threshold, so bob is not a
  // user. Items: bread = 0, milk = 1, tea = 2 (from the text file).
  EXPECT_EQ(d.num_users, 1);
  EXPECT_EQ(d.num_items, 3);
  EXPECT_EQ(d.user, (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(d.item, (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(d.timestamp, (std::vector<int64_t>{20, 30}));
  EXPECT_EQ(d.item_text, (std::vector<std::string>{"", "Milk, whole", "Green tea"}));
  EXPECT_EQ(d.split, (std::vector<Split>{Split::kTrain, Split::kTest}));
}

TEST(CsvImport, HeaderlessTwoColumnsUseFileOrder) {
  ScratchDir dir;
  testing::write_text(dir.file("pairs.csv"), "u1,i1\nu1,i2\nu1,i3\nu2,i1\n");
  const Dataset d = import_csv(dir.file("pairs.csv"), "", plain());
  EXPECT_EQ(d.num_users, 2);
  EXPECT_EQ(d.num_items, 3);
  EXPECT_EQ(d.item, (std::vector<int64_t>{0, 1, 2, 0}));
  EXPECT_EQ(d.rating, (std::vector<float>(4, 1.0f)));
  EXPECT_EQ(d.split,
            (std::vector<Split>{Split::kTrain, Split::kValid, Split::kTest, Split::kTrain}));
}

TEST(CsvImport, RaggedRecordIsNamed) {
  ScratchDir dir;
  testing::write_text(dir.file("bad.csv"), "u1,i1,5\nu2,i2\n");
  const std::string msg = error_of([&] { import_csv(dir.file("bad.csv"), "", plain()); });
  EXPECT_NE(msg.find("bad.csv line 2: expected 3 fields, got 2"), std::string::npos) << msg;
}

}  // namespace
}  // namespace hybrec::trainer
