#include "architecture/include_rules.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace hybrec::architecture {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool holds(const std::string& room, const std::string& path) {
  return path.size() > room.size() && path.compare(0, room.size(), room) == 0 &&
         path[room.size()] == '/';
}

// The target of an #include line: sets *quoted and returns the path between
// the quotes or brackets, or "" when the line is no include. (Hand-parsed:
// GCC 12's std::regex trips -Werror=maybe-uninitialized under the sanitizers.)
std::string include_target(const std::string& line, bool* quoted) {
  std::size_t i = line.find_first_not_of(" \t");
  if (i == std::string::npos || line[i] != '#') return "";
  i = line.find_first_not_of(" \t", i + 1);
  if (i == std::string::npos || line.compare(i, 7, "include") != 0) return "";
  i = line.find_first_not_of(" \t", i + 7);
  if (i == std::string::npos || (line[i] != '"' && line[i] != '<')) return "";
  *quoted = line[i] == '"';
  const std::size_t end = line.find(*quoted ? '"' : '>', i + 1);
  if (end == std::string::npos) return "";
  return line.substr(i + 1, end - i - 1);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

const Room* Rules::room_of(const std::string& path) const {
  const Room* best = nullptr;
  for (const Room& r : rooms) {
    if (holds(r.path, path) && (best == nullptr || r.path.size() > best->path.size())) best = &r;
  }
  return best;
}

const Room* Rules::find(const std::string& room) const {
  for (const Room& r : rooms) {
    if (r.path == room) return &r;
  }
  return nullptr;
}

Rules parse_rules(const std::string& text) {
  Rules rules;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    line = line.substr(0, line.find('#'));
    if (words(line).empty()) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) {
      throw std::runtime_error("rooms.txt line " + std::to_string(number) + ": no ':' in '" + line +
                               "'");
    }
    const std::vector<std::string> head = words(line.substr(0, colon));
    const std::string rest = line.substr(colon + 1);
    if (head.size() == 2 && head[0] == "generated") {
      for (const std::string& header : words(rest)) rules.generated[header] = head[1];
      continue;
    }
    if (head.size() != 1) {
      throw std::runtime_error("rooms.txt line " + std::to_string(number) +
                               ": expected 'ROOM:' or 'generated ROOM:'");
    }
    Room room;
    room.path = head[0];
    const std::size_t bar = rest.find('|');
    for (const std::string& r : words(rest.substr(0, bar))) room.may_include.insert(r);
    if (bar != std::string::npos) room.forbidden_system = words(rest.substr(bar + 1));
    if (rules.find(room.path) != nullptr) {
      throw std::runtime_error("rooms.txt line " + std::to_string(number) + ": room " + room.path +
                               " declared twice");
    }
    rules.rooms.push_back(room);
  }
  for (const Room& r : rules.rooms) {
    for (const std::string& d : r.may_include) {
      if (rules.find(d) == nullptr) {
        throw std::runtime_error("rooms.txt: room " + r.path + " may include '" + d +
                                 "', which is not a declared room");
      }
    }
  }
  for (const auto& [header, room] : rules.generated) {
    if (rules.find(room) == nullptr) {
      throw std::runtime_error("rooms.txt: generated header " + header + " of undeclared room " +
                               room);
    }
  }
  return rules;
}

std::string Violation::to_string() const {
  return file + ":" + std::to_string(line) + ": #include " + include + ": " + why;
}

bool file_exists(const std::string& root, const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(root) / path, ec);
}

std::vector<Violation> check_file(const Rules& rules, const std::string& root,
                                  const std::string& file, const std::string& text, Exists exists) {
  std::vector<Violation> out;
  const Room* room = rules.room_of(file);
  if (room == nullptr) {
    out.push_back({file, 0, "", "the file belongs to no room of tests/architecture/rooms.txt"});
    return out;
  }
  std::istringstream in(text);
  std::string line;
  int number = 0;
  const std::string top = file.substr(0, file.find('/'));
  const std::string dir = fs::path(file).parent_path().string();
  while (std::getline(in, line)) {
    ++number;
    bool quoted = false;
    const std::string target = include_target(line, &quoted);
    if (target.empty()) continue;
    const std::string written = quoted ? "\"" + target + "\"" : "<" + target + ">";
    if (!quoted) {
      for (const std::string& prefix : room->forbidden_system) {
        if (target.compare(0, prefix.size(), prefix) == 0) {
          out.push_back({file, number, written,
                         "room " + room->path + " may not include system header " + prefix});
        }
      }
      continue;
    }
    std::string resolved;
    for (const std::string& candidate :
         {target, "kernels/include/" + target, top + "/" + target, dir + "/" + target}) {
      if (exists(root, candidate)) {
        resolved = candidate;
        break;
      }
    }
    const Room* to = nullptr;
    if (!resolved.empty()) {
      to = rules.room_of(resolved);
    } else if (rules.generated.count(target) != 0) {
      to = rules.find(rules.generated.at(target));
    } else {
      out.push_back({file, number, written, "resolves to no file of the tree"});
      continue;
    }
    if (to == nullptr) {
      out.push_back({file, number, written, resolved + " belongs to no room"});
    } else if (to != room && room->may_include.count(to->path) == 0) {
      out.push_back(
          {file, number, written, "room " + room->path + " may not include room " + to->path});
    }
  }
  return out;
}

std::vector<Violation> check_tree(const Rules& rules, const std::string& root) {
  std::vector<std::string> files;
  for (const char* top : {"kernels", "parameter_server", "trainer", "serving", "launch"}) {
    for (const auto& entry : fs::recursive_directory_iterator(fs::path(root) / top)) {
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() ||
          (ext != ".h" && ext != ".cc" && ext != ".cu" && ext != ".cuh"))
        continue;
      files.push_back(fs::relative(entry.path(), root).generic_string());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<Violation> out;
  for (const std::string& f : files) {
    const auto found = check_file(rules, root, f, read_file(fs::path(root) / f), file_exists);
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

}  // namespace hybrec::architecture
