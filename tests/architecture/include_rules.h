// The include checker behind test_architecture_includes: reads the rooms
// and their allowed doors (tests/architecture/rooms.txt), then every
// #include of every source file in the rooms, and reports each include that
// goes through a door the file's room does not have.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace hybrec::architecture {

struct Room {
  std::string path;                           // "trainer/model"
  std::set<std::string> may_include;          // rooms, itself not listed
  std::vector<std::string> forbidden_system;  // prefixes of <...> includes
};

struct Rules {
  std::vector<Room> rooms;
  std::map<std::string, std::string> generated;  // header name -> room
  // The room of a repository-relative path: the longest room that holds
  // it, or nullptr.
  const Room* room_of(const std::string& path) const;
  const Room* find(const std::string& room) const;
};

// Parses rooms.txt; throws std::runtime_error naming the line of anything
// malformed or an allowed room that is not declared.
Rules parse_rules(const std::string& text);

struct Violation {
  std::string file;  // repository-relative
  int line = 0;
  std::string include;  // as written, with its quotes or brackets
  std::string why;
  std::string to_string() const;
};

// Whether `path` (repository-relative) exists in the tree being checked.
using Exists = bool (*)(const std::string& root, const std::string& path);

// Checks one file's text. Quoted includes resolve, in order: from the
// repository root, as a kernels public header (hybrec/kernels/...), from
// the top folder of the file (kernels/api/...), from the file's own folder,
// and as a generated header.
std::vector<Violation> check_file(const Rules& rules, const std::string& root,
                                  const std::string& file, const std::string& text, Exists exists);

// Every .h, .cc, .cu and .cuh file under the rooms' top folders (kernels,
// parameter_server, trainer, launch); a source file in no room is a
// violation too.
std::vector<Violation> check_tree(const Rules& rules, const std::string& root);

bool file_exists(const std::string& root, const std::string& path);

}  // namespace hybrec::architecture
