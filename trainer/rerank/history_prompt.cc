#include "trainer/rerank/history_prompt.h"

namespace hybrec::trainer {
namespace {

std::string trim(const std::string& s) {
  const char* space = " \t\r\n";
  const auto begin = s.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

// A title on one line: line breaks inside it would end its list entry.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

// "Heat (1995)" -> "Heat": the trailing year of a catalogue title.
std::string without_year(const std::string& t) {
  const std::size_t n = t.size();
  if (n < 8 || t[n - 7] != ' ' || t[n - 6] != '(' || t[n - 1] != ')') return t;
  for (std::size_t i = n - 5; i < n - 1; ++i) {
    if (t[i] < '0' || t[i] > '9') return t;
  }
  return trim(t.substr(0, n - 7));
}

}  // namespace

std::string item_title(const std::string& item_text) {
  return one_line(without_year(trim(item_text.substr(0, item_text.find(" | ")))));
}

std::string history_prompt(const std::vector<std::string>& titles) {
  std::string p = "Titles this person liked, most recent first:\n";
  for (const std::string& t : titles) p += "- " + t + "\n";
  return p + "Another title this person will like:\n-";
}

std::string title_continuation(const std::string& title) { return " " + title + "\n"; }

}  // namespace hybrec::trainer
