#include "trainer/explain/prompt.h"

#include <algorithm>
#include <utility>

#include "trainer/explain/utf8.h"
#include "trainer/text/unicode_tables.h"

namespace hybrec::explain {

namespace {

constexpr std::size_t kItemTextChars = 200;
constexpr std::size_t kTitleChars = 60;

bool is_space(char32_t c) {
  return (text::unicode::properties(c) & text::unicode::kWhitespace) != 0;
}

bool is_control(char32_t c) { return c < 0x20 || (c >= 0x7F && c < 0xA0); }

std::u32string trimmed(const std::u32string& s) {
  const auto begin = s.find_first_not_of(U' ');
  if (begin == std::u32string::npos) return {};
  return s.substr(begin, s.find_last_not_of(U' ') - begin + 1);
}

}  // namespace

std::string clean_text(std::string_view text, std::size_t max_chars) {
  std::u32string out;
  for (const char32_t c : decode_valid_utf8(text::valid_utf8(text))) {
    if (is_control(c) || is_space(c)) {
      if (!out.empty() && out.back() != U' ') out += U' ';
    } else {
      out += c;
    }
  }
  out = trimmed(out);
  if (out.size() > max_chars) {
    const std::size_t room = max_chars > 3 ? max_chars - 3 : 0;
    std::size_t cut = out.rfind(U' ', room);
    if (cut == std::u32string::npos || cut < room / 2) cut = room;
    out = trimmed(out.substr(0, cut)) + U"...";
  }
  return encode_utf8(out);
}

namespace {

// Where the title ends and the separator after it, as item_title reads them.
std::pair<std::size_t, std::size_t> title_end(std::string_view text) {
  const std::size_t bar = text.find(" | ");
  if (bar != std::string_view::npos) return {bar, 3};
  const std::size_t colon = text.find(": ");
  if (colon != std::string_view::npos) return {colon, 2};
  return {text.size(), 0};
}

}  // namespace

std::string item_title(std::string_view text, std::size_t max_chars) {
  return clean_text(text.substr(0, title_end(text).first), max_chars);
}

std::string item_details(std::string_view text, std::size_t max_chars) {
  const auto [end, separator] = title_end(text);
  return clean_text(text.substr(std::min(text.size(), end + separator)), max_chars);
}

std::vector<text::ChatMessage> explanation_messages(const PromptInput& in) {
  const std::string title = clean_text(in.item_title, kTitleChars);
  std::string user;
  if (in.no_history) {
    user += "The user has no history yet.\n";
  } else if (in.recent_titles.empty()) {
    user += "The user's recent items have no titles.\n";
  } else {
    user += "The user recently liked (most recent first):\n";
    for (const std::string& t : in.recent_titles) user += "- " + clean_text(t, kTitleChars) + "\n";
  }
  user += "Recommended: " + title + "\n";
  const std::string details = item_details(in.item_text, kItemTextChars);
  if (!details.empty()) user += "About it: " + details + "\n";
  std::string aspects;
  for (const std::string& a : in.aspects) {
    aspects += (aspects.empty() ? "" : ", ") + clean_text(a, 40);
  }
  user += "Shared themes: " + (aspects.empty() ? std::string("none") : aspects) + "\n";
  user += "In one sentence, tell the user why they may like \"" + title + "\"";
  user += aspects.empty() ? ".\n" : ", mentioning the shared themes.\n";
  return {{"system", "You explain recommendations in one short, friendly sentence."},
          {"user", user}};
}

std::string response_start(const PromptInput& in) {
  return "You may like " + clean_text(in.item_title, kTitleChars) + " because";
}

std::string first_sentence(std::string_view text) {
  const std::size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return {};
  text.remove_prefix(start);
  const std::string_view line = text.substr(0, text.find('\n'));
  std::size_t end = line.size();
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if ((c == '.' || c == '!' || c == '?') && (i + 1 == line.size() || line[i + 1] == ' ' ||
                                               line[i + 1] == '\t' || line[i + 1] == '\r')) {
      end = i + 1;
      break;
    }
  }
  const std::string_view s = line.substr(0, end);
  return std::string(s.substr(0, s.find_last_not_of(" \t\r") + 1));
}

}  // namespace hybrec::explain
