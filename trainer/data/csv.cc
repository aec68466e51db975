#include "trainer/data/csv.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  HYBREC_CHECK(in.is_open(), path, ": cannot open: ", std::strerror(errno));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  HYBREC_CHECK(!in.bad(), path, ": read failed");
  return bytes.str();
}

CsvReader::CsvReader(const std::string& path, char delimiter, bool quoted)
    : path_(path), text_(read_file_bytes(path)), delimiter_(delimiter), quoted_(quoted) {}

std::string CsvReader::where() const {
  return path_ + " line " + std::to_string(record_line_) + ": ";
}

bool CsvReader::next(std::vector<std::string>* fields) {
  fields->clear();
  // Skip blank lines (LF or CRLF).
  while (pos_ < text_.size() && (text_[pos_] == '\n' || text_[pos_] == '\r')) {
    if (text_[pos_] == '\n') ++line_;
    ++pos_;
  }
  if (pos_ >= text_.size()) return false;
  record_line_ = line_;
  std::string field;
  while (true) {
    const bool at_quote = quoted_ && pos_ < text_.size() && text_[pos_] == '"';
    if (at_quote) {
      ++pos_;
      while (true) {
        HYBREC_CHECK(pos_ < text_.size(), where(), "unterminated quoted field");
        const char c = text_[pos_++];
        if (c == '"') {
          if (pos_ < text_.size() && text_[pos_] == '"') {
            field += '"';
            ++pos_;
            continue;
          }
          break;
        }
        if (c == '\n') ++line_;
        field += c;
      }
      // After the closing quote: a delimiter, the end of the line or file.
      const bool ok = pos_ >= text_.size() || text_[pos_] == delimiter_ || text_[pos_] == '\n' ||
                      text_[pos_] == '\r';
      HYBREC_CHECK(ok, where(), "unexpected character '", text_[pos_],
                   "' after a closing quote (field ", fields->size() + 1, ")");
    } else {
      while (pos_ < text_.size() && text_[pos_] != delimiter_ && text_[pos_] != '\n' &&
             text_[pos_] != '\r') {
        HYBREC_CHECK(!quoted_ || text_[pos_] != '"', where(), "stray quote in unquoted field ",
                     fields->size() + 1);
        field += text_[pos_++];
      }
    }
    fields->push_back(std::move(field));
    field.clear();
    if (pos_ < text_.size() && text_[pos_] == delimiter_) {
      ++pos_;
      continue;
    }
    // End of record: consume "\r\n", "\n" or a lone "\r".
    if (pos_ < text_.size() && text_[pos_] == '\r') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '\n') {
      ++pos_;
      ++line_;
    }
    return true;
  }
}

namespace {

std::string trimmed(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

}  // namespace

std::string escaped(const std::string& text) {
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += ch;
    }
  }
  return out;
}

void check_no_control_bytes(const std::string& text, const CsvReader& reader, const char* column) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    HYBREC_CHECK(c >= 0x20 && c != 0x7f, reader.where(), column, " '", escaped(text),
                 "' holds control byte ", escaped(std::string(1, text[i])), " at byte ", i + 1,
                 " (NUL and other control bytes are not allowed)");
  }
}

// strtoll and strtod stop at a NUL, so "1\0002" would read as 1: the whole
// field must be consumed and hold no control byte.
int64_t parse_int64(const std::string& text, const CsvReader& reader, const char* column) {
  const std::string t = trimmed(text);
  check_no_control_bytes(t, reader, column);
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(t.c_str(), &end, 10);
  HYBREC_CHECK(!t.empty() && end == t.c_str() + t.size() && errno == 0, reader.where(), column,
               " '", text, "' is not an integer");
  return value;
}

double parse_double(const std::string& text, const CsvReader& reader, const char* column) {
  const std::string t = trimmed(text);
  check_no_control_bytes(t, reader, column);
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(t.c_str(), &end);
  HYBREC_CHECK(!t.empty() && end == t.c_str() + t.size() && errno == 0 && std::isfinite(value),
               reader.where(), column, " '", text, "' is not a number");
  return value;
}

}  // namespace hybrec::trainer
