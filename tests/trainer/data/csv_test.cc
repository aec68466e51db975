// The RFC-4180 reader and the plain delimiter split.
#include "trainer/data/csv.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "trainer/data/data_testing.h"

namespace hybrec::trainer {
namespace {

using testing::error_of;
using testing::ScratchDir;
using Records = std::vector<std::vector<std::string>>;

Records read_all(CsvReader& reader, std::vector<int64_t>* lines = nullptr) {
  Records records;
  std::vector<std::string> fields;
  while (reader.next(&fields)) {
    records.push_back(fields);
    if (lines != nullptr) lines->push_back(reader.line());
  }
  return records;
}

TEST(Csv, QuotesDoubledQuotesAndEmbeddedNewlines) {
  ScratchDir dir;
  testing::write_text(dir.file("a.csv"),
                      "id,title,genres\r\n"
                      "1,\"Toy Story, The (1995)\",A|B\r\n"
                      "2,\"Say \"\"Hi\"\"\",\r\n"
                      "\r\n"
                      "3,\"two\nlines\",\"\"\n"
                      "4,plain,last");
  CsvReader reader(dir.file("a.csv"));
  std::vector<int64_t> lines;
  const Records records = read_all(reader, &lines);
  EXPECT_EQ(records, (Records{{"id", "title", "genres"},
                              {"1", "Toy Story, The (1995)", "A|B"},
                              {"2", "Say \"Hi\"", ""},
                              {"3", "two\nlines", ""},
                              {"4", "plain", "last"}}));
  EXPECT_EQ(lines, (std::vector<int64_t>{1, 2, 3, 5, 7}));
}

TEST(Csv, PlainSplitKeepsQuotesAndEmptyFields) {
  ScratchDir dir;
  testing::write_text(dir.file("u.item"), "1|Toy \"Story\"||x\n2|b|c|\n");
  CsvReader reader(dir.file("u.item"), '|', /*quoted=*/false);
  EXPECT_EQ(read_all(reader), (Records{{"1", "Toy \"Story\"", "", "x"}, {"2", "b", "c", ""}}));
}

TEST(Csv, ErrorsNameFileAndLine) {
  ScratchDir dir;
  testing::write_text(dir.file("bad.csv"), "a,b\n1,\"open\n2,3\n");
  CsvReader reader(dir.file("bad.csv"));
  std::vector<std::string> f;
  ASSERT_TRUE(reader.next(&f));
  std::string msg = error_of([&] { reader.next(&f); });
  EXPECT_NE(msg.find(dir.file("bad.csv") + " line 2: unterminated quoted field"), std::string::npos)
      << msg;

  testing::write_text(dir.file("stray.csv"), "a,b\"c\n");
  CsvReader stray(dir.file("stray.csv"));
  msg = error_of([&] { stray.next(&f); });
  EXPECT_NE(msg.find("line 1: stray quote"), std::string::npos) << msg;

  testing::write_text(dir.file("after.csv"), "\"a\"b,c\n");
  CsvReader after(dir.file("after.csv"));
  msg = error_of([&] { after.next(&f); });
  EXPECT_NE(msg.find("line 1: unexpected character 'b' after a closing quote"), std::string::npos)
      << msg;

  msg = error_of([&] { CsvReader missing(dir.file("none.csv")); });
  EXPECT_NE(msg.find(dir.file("none.csv") + ": cannot open"), std::string::npos) << msg;
}

TEST(Csv, NumbersAreParsedStrictly) {
  ScratchDir dir;
  testing::write_text(dir.file("n.csv"), "x\n");
  CsvReader reader(dir.file("n.csv"));
  std::vector<std::string> f;
  ASSERT_TRUE(reader.next(&f));
  EXPECT_EQ(parse_int64(" 42 ", reader, "id"), 42);
  EXPECT_DOUBLE_EQ(parse_double("3.5", reader, "rating"), 3.5);
  const std::string msg = error_of([&] { parse_int64("4x", reader, "userId"); });
  EXPECT_NE(msg.find("line 1: userId '4x' is not an integer"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { parse_double("nan", reader, "rating"); }).find("is not a number"),
            std::string::npos);
}

}  // namespace
}  // namespace hybrec::trainer
