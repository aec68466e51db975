#include "trainer/data/movielens.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "hybrec/kernels/error.h"
#include "trainer/data/csv.h"
#include "trainer/data/text_hash.h"

namespace hybrec::trainer {

namespace {

namespace fs = std::filesystem;

// u.genre's names, for a 100K copy without that file.
const char* const kMl100kGenres[] = {
    "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance",     "Sci-Fi", "Thriller",  "War",       "Western"};
constexpr int kMl100kGenreCount = 19;

struct RawEvent {
  int64_t user, item;
  float rating;
  int64_t timestamp;
};

struct TagRow {
  int64_t user, item;
  std::string tag;
};

// What a format's reader gathers, in source ids.
struct Source {
  std::string name;
  std::vector<RawEvent> events;         // kept events, in file order
  std::map<int64_t, std::string> text;  // source item id -> text (ordered: dense ids ascend)
  std::vector<TagRow> tags;             // in file order
};

bool is_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool is_integer(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789-+ ") == std::string::npos;
}

// "user item rating timestamp" records; a first record whose user field is
// not a number is a header and skipped.
void read_events(CsvReader& reader, double threshold, std::vector<RawEvent>* events) {
  std::vector<std::string> f;
  bool first = true;
  int64_t records = 0;
  while (reader.next(&f)) {
    ++records;
    const bool header = first && !f.empty() && !is_integer(f[0]);
    first = false;
    if (header) continue;
    HYBREC_CHECK(f.size() == 4, reader.where(),
                 "expected 4 fields (user, item, rating, timestamp), got ", f.size());
    const double rating = parse_double(f[2], reader, "rating");
    if (threshold > 0 && rating < threshold) continue;
    events->push_back(RawEvent{parse_int64(f[0], reader, "user id"),
                               parse_int64(f[1], reader, "item id"), static_cast<float>(rating),
                               parse_int64(f[3], reader, "timestamp")});
  }
  // An empty or header-only ratings file would make a dataset without users.
  HYBREC_CHECK(!events->empty(), reader.path(), ": no events to import (",
               records == 0 ? "the file is empty" : std::to_string(records) + " records read",
               below_threshold(threshold), ")");
}

Source read_ml100k(const fs::path& dir, const ImportOptions& options) {
  Source source;
  source.name = "ml-100k";
  CsvReader data((dir / "u.data").string(), '\t', /*quoted=*/false);
  read_events(data, options.rating_threshold, &source.events);

  std::vector<std::string> genres(kMl100kGenres, kMl100kGenres + kMl100kGenreCount);
  std::vector<std::string> f;
  if (is_file(dir / "u.genre")) {
    CsvReader reader((dir / "u.genre").string(), '|', false);
    while (reader.next(&f)) {
      HYBREC_CHECK(f.size() == 2, reader.where(), "expected 'name|index', got ", f.size(),
                   " fields");
      const int64_t index = parse_int64(f[1], reader, "genre index");
      HYBREC_CHECK(index >= 0 && index < kMl100kGenreCount, reader.where(), "genre index ", index,
                   " out of range [0, ", kMl100kGenreCount, ")");
      genres[static_cast<size_t>(index)] = latin1_to_utf8(f[0]);
    }
  }
  if (is_file(dir / "u.item")) {
    CsvReader reader((dir / "u.item").string(), '|', false);
    while (reader.next(&f)) {
      HYBREC_CHECK(f.size() == 5 + kMl100kGenreCount, reader.where(), "expected ",
                   5 + kMl100kGenreCount, " '|'-separated fields, got ", f.size());
      std::string names;
      for (int g = 0; g < kMl100kGenreCount; ++g) {
        if (f[5 + g] == "1") names += (names.empty() ? "" : " ") + genres[g];
      }
      std::string text = latin1_to_utf8(f[1]);
      if (!names.empty()) text += " | " + names;
      source.text[parse_int64(f[0], reader, "movie id")] = std::move(text);
    }
  }
  return source;
}

// tags.csv's rows in file order, blank tags dropped.
std::vector<TagRow> read_tags(const fs::path& file) {
  std::vector<TagRow> rows;
  CsvReader reader(file.string());
  std::vector<std::string> f;
  int64_t row = 0;
  while (reader.next(&f)) {
    if (row++ == 0 && !f.empty() && f[0] == "userId") continue;
    HYBREC_CHECK(f.size() == 4, reader.where(), "expected userId,movieId,tag,timestamp, got ",
                 f.size(), " fields");
    if (f[2].find_first_not_of(" \t") == std::string::npos) continue;
    rows.push_back(
        TagRow{parse_int64(f[0], reader, "userId"), parse_int64(f[1], reader, "movieId"), f[2]});
  }
  return rows;
}

Source read_ml_latest(const fs::path& dir, const ImportOptions& options) {
  Source source;
  source.name =
      dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string();
  CsvReader ratings((dir / "ratings.csv").string());
  read_events(ratings, options.rating_threshold, &source.events);
  std::vector<std::string> f;
  if (is_file(dir / "tags.csv")) source.tags = read_tags(dir / "tags.csv");
  if (is_file(dir / "movies.csv")) {
    CsvReader movies((dir / "movies.csv").string());
    bool first = true;
    while (movies.next(&f)) {
      if (first && !f.empty() && f[0] == "movieId") {
        first = false;
        continue;
      }
      first = false;
      HYBREC_CHECK(f.size() == 3, movies.where(), "expected movieId,title,genres, got ", f.size(),
                   " fields");
      const int64_t id = parse_int64(f[0], movies, "movieId");
      std::string text = f[1];
      std::string genres = f[2];
      if (genres == "(no genres listed)") genres.clear();
      std::replace(genres.begin(), genres.end(), '|', ' ');
      if (!genres.empty()) text += " | " + genres;
      source.text[id] = std::move(text);
    }
  }
  std::map<int64_t, std::vector<std::string>> by_item;
  for (const TagRow& row : source.tags) by_item[row.item].push_back(row.tag);
  for (const auto& [item, tags] : by_item) {
    std::string& text = source.text[item];
    text += (text.empty() ? "" : " | ") + movielens_tag_list(tags);
  }
  return source;
}

// Dense ids in ascending source id order; users need a kept event.
Dataset build(Source source, const ImportOptions& options) {
  Dataset d;
  d.name = std::move(source.name);
  std::map<int64_t, int64_t> users, items;
  for (const RawEvent& e : source.events) {
    users.emplace(e.user, 0);
    items.emplace(e.item, 0);
  }
  for (const auto& [item, text] : source.text) items.emplace(item, 0);
  int64_t next = 0;
  for (auto& [id, dense] : users) dense = next++;
  d.num_users = next;
  next = 0;
  for (auto& [id, dense] : items) dense = next++;
  d.num_items = next;
  d.item_text.assign(static_cast<size_t>(d.num_items), "");
  for (auto& [id, text] : source.text) d.item_text[items[id]] = std::move(text);
  for (const RawEvent& e : source.events) {
    d.user.push_back(users[e.user]);
    d.item.push_back(items[e.item]);
    d.rating.push_back(e.rating);
    d.timestamp.push_back(e.timestamp);
  }
  // A tagged movie is an item (its tags are item text); a tagger without a
  // kept event is no user, so that row has no pair to be the text of.
  for (TagRow& row : source.tags) {
    const auto user = users.find(row.user);
    if (user == users.end()) continue;
    d.pair_text_user.push_back(user->second);
    d.pair_text_item.push_back(items.at(row.item));
    d.pair_text.push_back(std::move(row.tag));
  }
  complete_dataset(d, options.cold_fraction, options.seed, options.text_dim);
  return d;
}

}  // namespace

std::string latin1_to_utf8(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out += ch;
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::string movielens_tag_list(const std::vector<std::string>& tags) {
  struct Tag {
    const std::string* text = nullptr;
    int64_t count = 0;
    size_t first = 0;
  };
  std::map<std::string, Tag> named;  // lower-cased tag -> Tag
  for (size_t i = 0; i < tags.size(); ++i) {
    std::string lower = tags[i];
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return c < 0x80 ? std::tolower(c) : c; });
    Tag& tag = named[lower];
    if (tag.count++ == 0) {
      tag.text = &tags[i];
      tag.first = i;
    }
  }
  std::vector<Tag> list;
  for (const auto& [key, tag] : named) list.push_back(tag);
  std::sort(list.begin(), list.end(), [](const Tag& a, const Tag& b) {
    return a.count != b.count ? a.count > b.count : a.first < b.first;
  });
  if (list.size() > static_cast<size_t>(kMaxTagsPerItem)) list.resize(kMaxTagsPerItem);
  std::string joined;
  for (const Tag& tag : list) joined += (joined.empty() ? "" : ", ") + *tag.text;
  return joined;
}

std::string item_text_without_user_tags(const Dataset& d, int64_t user, int64_t item) {
  HYBREC_CHECK(item >= 0 && item < d.num_items, "dataset '", d.name, "': item id ", item,
               " out of range [0, ", d.num_items, ")");
  std::vector<std::string> all, others;
  for (size_t r = 0; r < d.pair_text.size(); ++r) {
    if (d.pair_text_item[r] != item) continue;
    all.push_back(d.pair_text[r]);
    if (d.pair_text_user[r] != user) others.push_back(d.pair_text[r]);
  }
  const std::string& text = d.item_text[static_cast<size_t>(item)];
  if (all.size() == others.size()) return text;
  const std::string tags = movielens_tag_list(all);
  std::string base;
  if (text == tags) {
    base.clear();
  } else if (text.size() > tags.size() + 3 &&
             text.compare(text.size() - tags.size() - 3, std::string::npos, " | " + tags) == 0) {
    base = text.substr(0, text.size() - tags.size() - 3);
  } else {
    HYBREC_THROW(
        "dataset '", d.name, "': item ", item, "'s text does not end with the tags ",
        "/pair_text gives it (\"", tags, "\"), so user ", user,
        "'s tags cannot be taken out of it (were some tags by users outside the dataset?)");
  }
  const std::string rest = movielens_tag_list(others);
  if (rest.empty()) return base;
  return base.empty() ? rest : base + " | " + rest;
}

Dataset import_movielens(const std::string& dir, const ImportOptions& options) {
  const fs::path root(dir);
  if (is_file(root / "u.data")) return build(read_ml100k(root, options), options);
  if (is_file(root / "ratings.csv")) return build(read_ml_latest(root, options), options);
  HYBREC_THROW("movielens: ", dir,
               " has neither u.data (MovieLens 100K) nor ratings.csv (ml-latest-small)");
}

}  // namespace hybrec::trainer
