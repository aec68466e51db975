// Importer for the MovieLens datasets (https://grouplens.org/datasets/movielens/).
//
// import_movielens(dir) detects the format from the files in `dir`:
//   * MovieLens 100K: u.data (tab-separated "user item rating timestamp",
//     1-based ids), u.item (pipe-separated, ISO-8859-1: id, title, release
//     date, video release date, IMDb URL, 19 genre flags) and u.genre
//     ("name|index" lines; built-in names are used when it is absent).
//   * ml-latest-small and its larger siblings: ratings.csv
//     (userId,movieId,rating,timestamp), movies.csv (movieId,title,genres
//     with '|'-separated genres, RFC-4180 quoting, UTF-8) and, optionally,
//     tags.csv (userId,movieId,tag,timestamp).
//
// Implicit feedback: only ratings >= options.rating_threshold are kept (0
// keeps all). Users are the source users with at least one kept event;
// items are the movies listed in the metadata file plus any rated movie it
// lacks (with empty text). Both are renumbered densely in ascending source
// id order, so the mapping does not depend on file order. Item text is
// "<title> | <genres, space-separated>" plus " | <tags>" where tags exist:
// the distinct tags (compared case-insensitively) of that movie, most used
// first, at most kMaxTagsPerItem of them, e.g. "Toy Story (1995) |
// Adventure Animation Children Comedy Fantasy | pixar, fun". Titles already
// carry the year. Then the cold items are chosen, the splits assigned and
// the text encoded as builder.h describes.
//
// Each tag is also kept as /pair_text (dataset.h): one row per tags.csv row
// of a user with a kept event, in file order, so a user's own tags on a
// movie are the held-out text its explanations are scored against. Those
// tags are then in the movie's item text as well; a prompt for that
// (user, item) takes item_text_without_user_tags so it does not show the
// user the answer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/data/builder.h"
#include "trainer/data/dataset.h"

namespace hybrec::trainer {

inline constexpr double kMovieLensRatingThreshold = 4.0;
inline constexpr int kMaxTagsPerItem = 16;

// The defaults of `hybrec data import movielens`.
inline ImportOptions movielens_defaults() {
  ImportOptions options;
  options.rating_threshold = kMovieLensRatingThreshold;
  return options;
}

// Throws hybrec::Error naming the directory when neither format's files
// are there, and the file and line of any malformed record.
Dataset import_movielens(const std::string& dir,
                         const ImportOptions& options = movielens_defaults());

// The tag part of a MovieLens item text from the item's tags in file
// order: the distinct tags (compared case-insensitively, ASCII only;
// spelled as first seen), most used first (ties: first seen first), at
// most kMaxTagsPerItem, joined by ", "; "" for no tags.
std::string movielens_tag_list(const std::vector<std::string>& tags);

// Item `item`'s text as the importer would have written it had `user` not
// tagged the item: the tag part rebuilt from the other users' /pair_text
// rows (a tag another user also gave stays). The text unchanged when
// `user` has no tag there, or the dataset no pair text. Throws
// hybrec::Error naming the item when its text does not end with the tag
// list its /pair_text rows give (a tagger without a kept event, whose rows
// are not kept, contributed to it; ml-latest-small has none), and for an
// item id out of range.
std::string item_text_without_user_tags(const Dataset& dataset, int64_t user, int64_t item);

// ISO-8859-1 bytes to UTF-8 (every byte >= 0x80 becomes two bytes).
std::string latin1_to_utf8(const std::string& text);

}  // namespace hybrec::trainer
