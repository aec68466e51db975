// Both MovieLens formats on fixtures written here.
#include "trainer/data/movielens.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "trainer/data/data_testing.h"

namespace hybrec::trainer {
namespace {

using testing::error_of;
using testing::ScratchDir;

ImportOptions no_cold(double threshold) {
  ImportOptions options;
  options.rating_threshold = threshold;
  options.cold_fraction = 0;
  options.text_dim = 16;
  return options;
}

// ml-latest-small layout: users 7 and 3, movies 10, 20, 30 (+ 40 rated
// but not listed).
void write_latest(const ScratchDir& dir) {
  testing::write_text(dir.file("ratings.csv"),
                      "userId,movieId,rating,timestamp\n"
                      "7,30,5.0,300\n"
                      "7,10,4.0,100\n"
                      "7,20,3.5,200\n"
                      "7,40,4.5,100\n"
                      "3,20,4.0,50\n"
                      "3,10,2.0,60\n");
  testing::write_text(dir.file("movies.csv"),
                      "movieId,title,genres\r\n"
                      "10,Toy Story (1995),Adventure|Animation|Children\r\n"
                      "20,\"American President, The (1995)\",Comedy|Drama|Romance\r\n"
                      "30,\"Say \"\"Cheese\"\" (2001)\",(no genres listed)\r\n");
  testing::write_text(dir.file("tags.csv"),
                      "userId,movieId,tag,timestamp\n"
                      "7,10,pixar,1\n"
                      "3,10,fun,2\n"
                      "3,10,Pixar,3\n"
                      "3,30,\"witty, dry\",4\n");
}

TEST(MovieLensLatest, RemapsIdsBuildsTextAndAppliesThreshold) {
  ScratchDir dir;
  write_latest(dir);
  const Dataset d = import_movielens(dir.path(), no_cold(4.0));
  // Users by ascending source id: 3 -> 0, 7 -> 1; items 10, 20, 30, 40 -> 0..3.
  EXPECT_EQ(d.num_users, 2);
  EXPECT_EQ(d.num_items, 4);
  // Kept (rating >= 4): user 3: 20@50; user 7: 10@100, 40@100 (file order), 30@300.
  EXPECT_EQ(d.user, (std::vector<int64_t>{0, 1, 1, 1}));
  EXPECT_EQ(d.item, (std::vector<int64_t>{1, 0, 3, 2}));
  EXPECT_EQ(d.timestamp, (std::vector<int64_t>{50, 100, 100, 300}));
  EXPECT_EQ(d.rating, (std::vector<float>{4.0f, 4.0f, 4.5f, 5.0f}));
  EXPECT_EQ(d.split,
            (std::vector<Split>{Split::kTrain, Split::kTrain, Split::kValid, Split::kTest}));
  EXPECT_EQ(d.item_text[0], "Toy Story (1995) | Adventure Animation Children | pixar, fun");
  EXPECT_EQ(d.item_text[1], "American President, The (1995) | Comedy Drama Romance");
  EXPECT_EQ(d.item_text[2], "Say \"Cheese\" (2001) | witty, dry");
  EXPECT_EQ(d.item_text[3], "");
  EXPECT_EQ(d.text_dim, 16);
  EXPECT_EQ(d.text_encoder, "hashing");
  EXPECT_EQ(d.name, std::filesystem::path(dir.path()).filename().string());
}

TEST(MovieLensLatest, KeepsEachTagAsPairTextOfItsUserAndMovie) {
  ScratchDir dir;
  write_latest(dir);
  const Dataset d = import_movielens(dir.path(), no_cold(4.0));
  // tags.csv rows in file order, source ids mapped as above (user 7 -> 1,
  // user 3 -> 0; movie 10 -> 0, movie 30 -> 2).
  EXPECT_EQ(d.pair_text_user, (std::vector<int64_t>{1, 0, 0, 0}));
  EXPECT_EQ(d.pair_text_item, (std::vector<int64_t>{0, 0, 0, 2}));
  EXPECT_EQ(d.pair_text, (std::vector<std::string>{"pixar", "fun", "Pixar", "witty, dry"}));
}

TEST(MovieLensLatest, TaggerWithoutKeptEventHasNoPairText) {
  ScratchDir dir;
  write_latest(dir);
  testing::write_text(dir.file("tags.csv"),
                      "userId,movieId,tag,timestamp\n"
                      "7,10,pixar,1\n"
                      "9,20,boring,2\n");  // user 9 rated nothing
  const Dataset d = import_movielens(dir.path(), no_cold(4.0));
  EXPECT_EQ(d.pair_text, (std::vector<std::string>{"pixar"}));
  // Its tag is still item text, as before.
  EXPECT_EQ(d.item_text[1], "American President, The (1995) | Comedy Drama Romance | boring");
}

TEST(MovieLensLatest, ItemTextWithoutUserTagsKeepsOtherUsersTags) {
  ScratchDir dir;
  write_latest(dir);
  const Dataset d = import_movielens(dir.path(), no_cold(4.0));
  // Movie 10: user 7 (dense 1) gave "pixar", user 3 (dense 0) "fun" and
  // "Pixar". Without user 3: only user 7's "pixar" is left.
  EXPECT_EQ(item_text_without_user_tags(d, 0, 0),
            "Toy Story (1995) | Adventure Animation Children | pixar");
  // Without user 7: user 3's "Pixar" still counts, spelled as user 3 wrote it.
  EXPECT_EQ(item_text_without_user_tags(d, 1, 0),
            "Toy Story (1995) | Adventure Animation Children | fun, Pixar");
  // Movie 30 (no genres): its only tag is user 3's, so only the title is left.
  EXPECT_EQ(item_text_without_user_tags(d, 0, 2), "Say \"Cheese\" (2001)");
  // A user who did not tag the movie sees the text unchanged.
  EXPECT_EQ(item_text_without_user_tags(d, 1, 2), d.item_text[2]);
  EXPECT_EQ(item_text_without_user_tags(d, 0, 1), d.item_text[1]);
}

TEST(MovieLensLatest, ItemTextWithoutUserTagsNamesAnItemWhoseTagsAreNotAllPairText) {
  ScratchDir dir;
  write_latest(dir);
  testing::write_text(dir.file("tags.csv"),
                      "userId,movieId,tag,timestamp\n"
                      "7,20,funny,1\n"
                      "9,20,boring,2\n");  // user 9 is no user: its row is not pair text
  const Dataset d = import_movielens(dir.path(), no_cold(4.0));
  const std::string msg = error_of([&] { item_text_without_user_tags(d, 1, 1); });
  EXPECT_NE(msg.find("item 1's text does not end with the tags /pair_text gives it (\"funny\")"),
            std::string::npos)
      << msg;
  EXPECT_NE(error_of([&] { item_text_without_user_tags(d, 1, 4); }).find("item id 4 out of range"),
            std::string::npos);
}

TEST(MovieLens, TagListIsDistinctMostUsedFirstAndCapped) {
  // "b" twice (as "B" first), then "a" and "c" once each in first-seen order.
  EXPECT_EQ(movielens_tag_list({"a", "B", "c", "b"}), "B, a, c");
  EXPECT_EQ(movielens_tag_list({}), "");
  std::vector<std::string> many;
  for (int i = 0; i < kMaxTagsPerItem + 3; ++i) many.push_back("t" + std::to_string(i));
  std::string expected;
  for (int i = 0; i < kMaxTagsPerItem; ++i) expected += (i ? ", t" : "t") + std::to_string(i);
  EXPECT_EQ(movielens_tag_list(many), expected);
}

TEST(MovieLensLatest, ThresholdZeroKeepsEverything) {
  ScratchDir dir;
  write_latest(dir);
  const Dataset d = import_movielens(dir.path(), no_cold(0));
  EXPECT_EQ(d.num_interactions(), 6);
}

TEST(MovieLensLatest, ColdItemsAreChosenAmongItemsWithEvents) {
  ScratchDir dir;
  write_latest(dir);
  ImportOptions options = no_cold(0);
  options.cold_fraction = 0.5;  // 2 of the 4 items with events
  const Dataset d = import_movielens(dir.path(), options);
  int cold = 0;
  for (const uint8_t c : d.item_cold) cold += c;
  EXPECT_EQ(cold, 2);
  for (size_t r = 0; r < d.split.size(); ++r) {
    EXPECT_EQ(d.split[r] == Split::kCold, d.item_cold[d.item[r]] == 1);
  }
}

TEST(MovieLens100k, ReadsTabAndPipeFilesAndConvertsLatin1) {
  ScratchDir dir;
  testing::write_text(dir.file("u.data"),
                      "2\t5\t4\t900\n1\t5\t5\t800\n2\t1\t3\t100\n2\t1\t5\t50\n");
  const std::string flags_a = "0|0|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0";  // Animation Children's
  const std::string flags_b = "0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0";  // Drama
  testing::write_text(dir.file("u.item"),
                      "1|Toy Story (1995)|01-Jan-1995||http://x|" + flags_a + "\n" +
                          "5|Cit\xE9 des enfants perdus, La (1995)|01-Jan-1995||http://y|" +
                          flags_b + "\n");
  testing::write_text(dir.file("u.genre"),
                      "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\n"
                      "Crime|6\nDocumentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\n"
                      "Musical|12\nMystery|13\nRomance|14\nSci-Fi|15\nThriller|16\nWar|17\n"
                      "Western|18\n\n");
  const Dataset d = import_movielens(dir.path(), no_cold(4.0));
  EXPECT_EQ(d.name, "ml-100k");
  EXPECT_EQ(d.num_users, 2);
  EXPECT_EQ(d.num_items, 2);  // source items 1 and 5
  EXPECT_EQ(d.user, (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(d.item, (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(d.timestamp, (std::vector<int64_t>{800, 50, 900}));
  EXPECT_EQ(d.item_text[0], "Toy Story (1995) | Animation Children's");
  EXPECT_EQ(d.item_text[1], "Cit\xC3\xA9 des enfants perdus, La (1995) | Drama");
}

TEST(MovieLens, UnknownDirectoryAndBadRecordsAreNamed) {
  ScratchDir dir;
  std::string msg = error_of([&] { import_movielens(dir.path()); });
  EXPECT_NE(msg.find("has neither u.data"), std::string::npos) << msg;
  testing::write_text(dir.file("ratings.csv"), "userId,movieId,rating,timestamp\n1,2,x,3\n");
  msg = error_of([&] { import_movielens(dir.path()); });
  EXPECT_NE(msg.find("ratings.csv line 2: rating 'x' is not a number"), std::string::npos) << msg;
}

TEST(MovieLens, Latin1ToUtf8) { EXPECT_EQ(latin1_to_utf8("a\xE9\xFF"), "a\xC3\xA9\xC3\xBF"); }

}  // namespace
}  // namespace hybrec::trainer
