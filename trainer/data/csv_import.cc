#include "trainer/data/csv_import.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"
#include "trainer/data/csv.h"

namespace hybrec::trainer {

namespace {

// Column positions; -1 = absent.
struct Columns {
  int user = 0, item = 1, rating = -1, timestamp = -1;
};

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool starts_with(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

// The columns a header names, or false when `fields` is not a header
// (it must name at least the user and the item column).
bool header_columns(const std::vector<std::string>& fields, Columns* columns) {
  Columns c{-1, -1, -1, -1};
  for (int i = 0; i < static_cast<int>(fields.size()); ++i) {
    const std::string name = lower(fields[i]);
    if (c.user < 0 && starts_with(name, "user")) {
      c.user = i;
    } else if (c.item < 0 && (starts_with(name, "item") || starts_with(name, "movie") ||
                              starts_with(name, "product"))) {
      c.item = i;
    } else if (c.rating < 0 && (starts_with(name, "rating") || starts_with(name, "score"))) {
      c.rating = i;
    } else if (c.timestamp < 0 && starts_with(name, "time")) {
      c.timestamp = i;
    }
  }
  if (c.user < 0 || c.item < 0) return false;
  *columns = c;
  return true;
}

Columns positional(size_t count) {
  Columns c;
  if (count >= 3) c.rating = 2;
  if (count >= 4) c.timestamp = 3;
  return c;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Dataset import_csv(const std::string& interactions_path, const std::string& text_path,
                   const ImportOptions& options) {
  Dataset d;
  d.name = std::filesystem::path(interactions_path).stem().string();
  IdMap users, items;
  CsvReader reader(interactions_path, ends_with(interactions_path, ".tsv") ? '\t' : ',');
  std::vector<std::string> f;
  Columns columns;
  int64_t record = 0;
  size_t width = 0;
  while (reader.next(&f)) {
    if (record++ == 0) {
      width = f.size();
      HYBREC_CHECK(width >= 2, reader.where(), "expected user,item[,rating][,timestamp], got ",
                   width, " field");
      if (header_columns(f, &columns)) continue;
      columns = positional(width);
    }
    HYBREC_CHECK(f.size() == width, reader.where(), "expected ", width, " fields, got ", f.size());
    const double rating =
        columns.rating >= 0 ? parse_double(f[columns.rating], reader, "rating") : 1.0;
    if (options.rating_threshold > 0 && rating < options.rating_threshold) continue;
    const int64_t timestamp =
        columns.timestamp >= 0 ? parse_int64(f[columns.timestamp], reader, "timestamp") : record;
    HYBREC_CHECK(!f[columns.user].empty() && !f[columns.item].empty(), reader.where(),
                 "empty user or item id");
    check_no_control_bytes(f[columns.user], reader, "user id");
    check_no_control_bytes(f[columns.item], reader, "item id");
    d.user.push_back(users.get_or_add(f[columns.user]));
    d.item.push_back(items.get_or_add(f[columns.item]));
    d.rating.push_back(static_cast<float>(rating));
    d.timestamp.push_back(timestamp);
  }
  // An empty or header-only file (or one whose ratings are all below the
  // threshold) would make a dataset without users: an error, not a file.
  HYBREC_CHECK(!d.user.empty(), interactions_path, ": no events to import (",
               record == 0 ? "the file is empty" : std::to_string(record) + " records read",
               below_threshold(options.rating_threshold), ")");
  std::vector<std::pair<int64_t, std::string>> texts;
  if (!text_path.empty()) {
    CsvReader text_reader(text_path, ends_with(text_path, ".tsv") ? '\t' : ',');
    bool first = true;
    while (text_reader.next(&f)) {
      const bool header = first && f.size() == 2 && lower(f[1]) == "text" && items.find(f[0]) < 0;
      first = false;
      if (header) continue;
      HYBREC_CHECK(f.size() == 2, text_reader.where(), "expected item,text, got ", f.size(),
                   " fields");
      check_no_control_bytes(f[0], text_reader, "item id");
      texts.emplace_back(items.get_or_add(f[0]), f[1]);
    }
  }
  finish_import(d, users.size(), items.size(), std::move(texts), options);
  return d;
}

}  // namespace hybrec::trainer
