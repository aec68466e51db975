// Delimited text files: an RFC-4180 CSV reader (quoted fields, doubled
// quotes, delimiters and newlines inside quotes, LF or CRLF line ends) and
// a plain delimiter split for formats without quoting (MovieLens 100K's
// tab- and pipe-separated files).
//
// Errors throw hybrec::Error naming the file and the line, e.g.
// "ratings.csv line 17: unterminated quoted field".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hybrec::trainer {

class CsvReader {
 public:
  // Reads the whole of `path` (throws if it cannot be opened or read).
  // With `quoted`, fields follow RFC 4180; without, a record is one line
  // split at every `delimiter` and quotes are ordinary characters.
  CsvReader(const std::string& path, char delimiter = ',', bool quoted = true);

  // Reads the next record into *fields and returns true, or returns false
  // at the end of the file. Blank lines are skipped; a trailing '\r' ends
  // a line like '\n'.
  bool next(std::vector<std::string>* fields);

  // The 1-based line on which the last record returned began.
  int64_t line() const { return record_line_; }
  const std::string& path() const { return path_; }

  // "<path> line <line>: ", to prefix messages about the last record.
  std::string where() const;

 private:
  std::string path_;
  std::string text_;
  size_t pos_ = 0;
  int64_t line_ = 1;
  int64_t record_line_ = 0;
  char delimiter_;
  bool quoted_;
};

// Strict numeric parses of a whole field (surrounding spaces allowed);
// throw "<reader.where()><column> '<text>' is not an integer / a number",
// or name the byte when the field holds a NUL or another control byte.
int64_t parse_int64(const std::string& text, const CsvReader& reader, const char* column);
double parse_double(const std::string& text, const CsvReader& reader, const char* column);

// Throws "<reader.where()><column> '<text>' holds control byte \x00 at byte
// N" when `text` holds a byte below 0x20 or 0x7f (ids must be printable:
// a NUL would end them in C strings and HDF5).
void check_no_control_bytes(const std::string& text, const CsvReader& reader, const char* column);

// `text` with control bytes written as \xNN, for messages.
std::string escaped(const std::string& text);

// The whole file as bytes; throws naming `path` if it cannot be read.
std::string read_file_bytes(const std::string& path);

}  // namespace hybrec::trainer
