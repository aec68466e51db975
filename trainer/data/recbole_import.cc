#include "trainer/data/recbole_import.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hybrec/kernels/error.h"
#include "trainer/data/csv.h"

namespace hybrec::trainer {

namespace {

namespace fs = std::filesystem;

enum class FieldType { kToken, kTokenSeq, kFloat, kFloatSeq };

struct Field {
  std::string name;
  FieldType type;
};

const char* type_name(FieldType type) {
  switch (type) {
    case FieldType::kToken:
      return "token";
    case FieldType::kTokenSeq:
      return "token_seq";
    case FieldType::kFloat:
      return "float";
    case FieldType::kFloatSeq:
      return "float_seq";
  }
  return "?";
}

// The header's name:type fields, in order.
std::vector<Field> read_header(CsvReader& reader) {
  std::vector<std::string> f;
  HYBREC_CHECK(reader.next(&f), reader.path(),
               ": the file is empty (expected a header of name:type fields)");
  std::vector<Field> fields;
  for (const std::string& text : f) {
    check_no_control_bytes(text, reader, "header field");
    const size_t colon = text.find(':');
    HYBREC_CHECK(colon != std::string::npos, reader.where(), "header field '", text,
                 "' has no :type (RecBole headers are name:type, e.g. user_id:token)");
    const std::string name = text.substr(0, colon);
    const std::string type = text.substr(colon + 1);
    HYBREC_CHECK(!name.empty(), reader.where(), "header field '", text, "' has no name");
    Field field{name, FieldType::kToken};
    if (type == "token") {
      field.type = FieldType::kToken;
    } else if (type == "token_seq") {
      field.type = FieldType::kTokenSeq;
    } else if (type == "float") {
      field.type = FieldType::kFloat;
    } else if (type == "float_seq") {
      field.type = FieldType::kFloatSeq;
    } else {
      HYBREC_THROW(reader.where(), "header field '", text, "' has unknown type '", type,
                   "' (expected token, token_seq, float or float_seq)");
    }
    for (const Field& seen : fields) {
      HYBREC_CHECK(seen.name != name, reader.where(), "header names field '", name, "' twice");
    }
    fields.push_back(std::move(field));
  }
  return fields;
}

// The position of field `name`, which must have type `type`; -1 when it is
// absent and not required.
int find_field(const std::vector<Field>& fields, const std::string& name, FieldType type,
               bool required, const CsvReader& reader) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].name != name) continue;
    HYBREC_CHECK(fields[i].type == type, reader.where(), "field '", name, "' has type ",
                 type_name(fields[i].type), ", expected ", name, ":", type_name(type));
    return static_cast<int>(i);
  }
  HYBREC_CHECK(!required, reader.where(), "header has no ", name, ":", type_name(type),
               " field (required)");
  return -1;
}

// The next record, checked against the header's width and for control
// bytes in every field (messages name the field by its header name).
bool next_record(CsvReader& reader, const std::vector<Field>& fields, std::vector<std::string>* f) {
  if (!reader.next(f)) return false;
  HYBREC_CHECK(f->size() == fields.size(), reader.where(), "expected ", fields.size(),
               " tab-separated fields (as the header), got ", f->size());
  for (size_t i = 0; i < f->size(); ++i)
    check_no_control_bytes((*f)[i], reader, fields[i].name.c_str());
  return true;
}

const std::string& id_field(const std::vector<std::string>& f, int column, const CsvReader& reader,
                            const char* what) {
  HYBREC_CHECK(!f[column].empty(), reader.where(), "empty ", what);
  return f[column];
}

// Timestamps are seconds: whole seconds are kept, a fractional part dropped.
int64_t parse_timestamp(const std::string& text, const CsvReader& reader) {
  const double value = parse_double(text, reader, "timestamp");
  // 2^63, the first double past int64's range.
  constexpr double kLimit = 9223372036854775808.0;
  HYBREC_CHECK(value >= -kLimit && value < kLimit, reader.where(), "timestamp '", text,
               "' is out of range");
  return static_cast<int64_t>(std::floor(value));
}

// Appends the space-separated tokens of `seq` to *text, one space apart.
void append_tokens(const std::string& seq, std::string* text) {
  size_t pos = 0;
  while (pos < seq.size()) {
    const size_t begin = seq.find_first_not_of(' ', pos);
    if (begin == std::string::npos) break;
    size_t end = seq.find(' ', begin);
    if (end == std::string::npos) end = seq.size();
    if (!text->empty()) *text += ' ';
    text->append(seq, begin, end - begin);
    pos = end;
  }
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

RecboleFiles find_recbole_files(const std::string& dir) {
  std::error_code ec;
  HYBREC_CHECK(fs::is_directory(dir, ec), "recbole: ", dir, " is not a directory");
  std::vector<fs::path> inters, items;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    const std::string file = entry.path().filename().string();
    if (ends_with(file, ".inter")) inters.push_back(entry.path());
    if (ends_with(file, ".item")) items.push_back(entry.path());
  }
  HYBREC_CHECK(!ec, "recbole: cannot list ", dir, ": ", ec.message());
  std::sort(inters.begin(), inters.end());
  std::sort(items.begin(), items.end());
  HYBREC_CHECK(!inters.empty(), "recbole: ", dir, " holds no .inter file");
  if (inters.size() > 1) {
    std::string names;
    for (const fs::path& p : inters) names += " " + p.filename().string();
    HYBREC_THROW("recbole: ", dir, " holds ", inters.size(), " .inter files (", names.substr(1),
                 "); expected one");
  }
  RecboleFiles files;
  files.name = inters[0].stem().string();
  files.inter = inters[0].string();
  const fs::path item = fs::path(inters[0]).replace_extension(".item");
  if (std::find(items.begin(), items.end(), item) != items.end()) {
    files.item = item.string();
  } else if (!items.empty()) {
    HYBREC_THROW("recbole: ", dir, " holds ", items[0].filename().string(), " but no ",
                 item.filename().string(), " (the .item file must share the stem of ",
                 inters[0].filename().string(), ")");
  }
  return files;
}

Dataset import_recbole(const std::string& dir, const ImportOptions& options) {
  const RecboleFiles files = find_recbole_files(dir);
  Dataset d;
  d.name = files.name;
  IdMap users, items;
  std::vector<std::string> f;

  CsvReader inter(files.inter, '\t', /*quoted=*/false);
  const std::vector<Field> fields = read_header(inter);
  const int user_col = find_field(fields, "user_id", FieldType::kToken, true, inter);
  const int item_col = find_field(fields, "item_id", FieldType::kToken, true, inter);
  const int rating_col = find_field(fields, "rating", FieldType::kFloat, false, inter);
  const int time_col = find_field(fields, "timestamp", FieldType::kFloat, false, inter);
  int64_t records = 0;
  while (next_record(inter, fields, &f)) {
    const int64_t position = records++;
    const double rating = rating_col >= 0 ? parse_double(f[rating_col], inter, "rating") : 1.0;
    const int64_t timestamp = time_col >= 0 ? parse_timestamp(f[time_col], inter) : position;
    const std::string& user = id_field(f, user_col, inter, "user_id");
    const std::string& item = id_field(f, item_col, inter, "item_id");
    if (options.rating_threshold > 0 && rating < options.rating_threshold) continue;
    d.user.push_back(users.get_or_add(user));
    d.item.push_back(items.get_or_add(item));
    d.rating.push_back(static_cast<float>(rating));
    d.timestamp.push_back(timestamp);
  }
  HYBREC_CHECK(!d.user.empty(), files.inter, ": no events to import (",
               records == 0 ? "a header and no records" : std::to_string(records) + " records read",
               below_threshold(options.rating_threshold), ")");

  std::vector<std::pair<int64_t, std::string>> texts;
  if (!files.item.empty()) {
    CsvReader item_reader(files.item, '\t', /*quoted=*/false);
    const std::vector<Field> item_fields = read_header(item_reader);
    const int id_col = find_field(item_fields, "item_id", FieldType::kToken, true, item_reader);
    std::vector<int> text_cols;
    for (size_t i = 0; i < item_fields.size(); ++i) {
      if (item_fields[i].type == FieldType::kTokenSeq) text_cols.push_back(static_cast<int>(i));
    }
    std::unordered_map<int64_t, int64_t> listed_on;  // dense item id -> line in X.item
    while (next_record(item_reader, item_fields, &f)) {
      const int64_t item = items.get_or_add(id_field(f, id_col, item_reader, "item_id"));
      const auto [it, added] = listed_on.emplace(item, item_reader.line());
      HYBREC_CHECK(added, item_reader.where(), "item_id '", f[id_col],
                   "' is listed again (first on line ", it->second, ")");
      std::string text;
      for (const int col : text_cols) append_tokens(f[col], &text);
      texts.emplace_back(item, std::move(text));
    }
  }
  finish_import(d, users.size(), items.size(), std::move(texts), options);
  return d;
}

}  // namespace hybrec::trainer
