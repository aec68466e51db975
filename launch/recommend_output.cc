#include "launch/recommend_output.h"

#include <cstdio>
#include <iomanip>

namespace hybrec::launch {

namespace {

bool continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Code points in valid-or-not UTF-8 (a stray continuation byte counts with
// the character before it).
int width_of(const std::string& s) {
  int n = 0;
  for (unsigned char c : s) n += continuation(c) ? 0 : 1;
  return n;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

std::string fit_title(const std::string& text, int width) {
  std::string clean;
  for (unsigned char c : text) clean += c < 0x20 || c == 0x7f ? ' ' : static_cast<char>(c);
  if (width_of(clean) <= width) return clean;
  const int keep = width > 3 ? width - 3 : 0;
  std::string out;
  int n = 0;
  for (std::size_t i = 0; i < clean.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(clean[i]);
    if (!continuation(c) && n++ == keep) break;
    out += clean[i];
  }
  return out + std::string(static_cast<std::size_t>(width - keep), '.');
}

void print_table(std::ostream& out, int64_t user, const serving::wire::RecommendReply& reply,
                 int title_width) {
  if (user >= 0) {
    out << "user " << user;
  } else {
    out << "no user";
  }
  out << (reply.new_user ? " (new user: scored from the session and query alone)" : "") << ", "
      << reply.items.size() << " items, item matrix v" << reply.snapshot_version << "\n";
  const auto title_cell = [&](const std::string& t) {
    const std::string fitted = fit_title(t, title_width);
    return fitted + std::string(static_cast<std::size_t>(title_width - width_of(fitted)), ' ');
  };
  out << std::setw(4) << "rank"
      << "  " << std::setw(8) << "item"
      << "  " << title_cell("title") << "  " << std::setw(9) << "score"
      << "  " << std::setw(9) << "cf"
      << "  " << std::setw(9) << "text"
      << "\n";
  out << std::fixed << std::setprecision(4);
  for (std::size_t i = 0; i < reply.items.size(); ++i) {
    const serving::wire::ScoredItem& item = reply.items[i];
    out << std::setw(4) << i + 1 << "  " << std::setw(8) << item.item << "  "
        << title_cell(item.title) << "  " << std::setw(9) << item.score << "  " << std::setw(9)
        << item.cf << "  " << std::setw(9) << item.text << "\n";
    if (item.__isset.explanation) {
      std::string aspects;
      for (const std::string& a : item.aspects) aspects += (aspects.empty() ? "" : ", ") + a;
      out << "      " << fit_title(item.explanation, 1 << 20)
          << (aspects.empty() ? "" : "  [" + fit_title(aspects, 1 << 20) + "]") << "\n";
    }
  }
  out << std::defaultfloat;
}

void print_json(std::ostream& out, int64_t user, const serving::wire::RecommendReply& reply) {
  out << "{\"user\": " << user << ", \"new_user\": " << (reply.new_user ? "true" : "false")
      << ", \"snapshot_version\": " << reply.snapshot_version << ", \"items\": [";
  for (std::size_t i = 0; i < reply.items.size(); ++i) {
    const serving::wire::ScoredItem& item = reply.items[i];
    out << (i ? ", " : "") << "{\"rank\": " << i + 1 << ", \"item\": " << item.item
        << ", \"title\": " << json_string(item.title) << ", \"score\": " << number(item.score)
        << ", \"cf\": " << number(item.cf) << ", \"text\": " << number(item.text);
    if (item.__isset.explanation) {
      out << ", \"explanation\": " << json_string(item.explanation) << ", \"aspects\": [";
      for (std::size_t a = 0; a < item.aspects.size(); ++a) {
        out << (a ? ", " : "") << json_string(item.aspects[a]);
      }
      out << "]";
    }
    out << "}";
  }
  out << "]}\n";
}

}  // namespace hybrec::launch
