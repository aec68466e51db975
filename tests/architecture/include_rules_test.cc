// The rooms' one-way doors: every #include of kernels/, parameter_server/,
// trainer/ and launch/ is checked against tests/architecture/rooms.txt, and
// the README's Architecture table must say what that file says.
#include "architecture/include_rules.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

namespace hybrec::architecture {
namespace {

const std::string kRoot = HYBREC_SOURCE_DIR;

// The `...` spans of a piece of Markdown, in order.
std::vector<std::string> code_spans(const std::string& text) {
  std::vector<std::string> out;
  for (std::size_t open = text.find('`'); open != std::string::npos;) {
    const std::size_t close = text.find('`', open + 1);
    if (close == std::string::npos) break;
    out.push_back(text.substr(open + 1, close - open - 1));
    open = text.find('`', close + 1);
  }
  return out;
}

std::string read(const std::string& path) {
  std::ifstream in(kRoot + "/" + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Rules rules() { return parse_rules(read("tests/architecture/rooms.txt")); }

TEST(Architecture, EveryIncludeGoesThroughAnAllowedDoor) {
  const std::vector<Violation> found = check_tree(rules(), kRoot);
  for (const Violation& v : found) ADD_FAILURE() << v.to_string();
  EXPECT_TRUE(found.empty());
}

// The check itself: a model file that includes the training loop (a door
// the model room does not have) is reported with the file, line and include.
TEST(Architecture, AWrongWayIncludeIsReported) {
  const std::string text =
      "#include <vector>\n"
      "#include \"trainer/model/hybrid_model.h\"\n"
      "#include \"trainer/loop/config.h\"\n";
  const std::vector<Violation> found =
      check_file(rules(), kRoot, "trainer/model/wrong_way.cc", text, file_exists);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].file, "trainer/model/wrong_way.cc");
  EXPECT_EQ(found[0].line, 3);
  EXPECT_EQ(found[0].include, "\"trainer/loop/config.h\"");
  EXPECT_EQ(found[0].why, "room trainer/model may not include room trainer/loop");
}

TEST(Architecture, KernelsMayNotIncludeMpiHdf5OrThrift) {
  const std::vector<Violation> found =
      check_file(rules(), kRoot, "kernels/cpu/wrong_way.cc",
                 "#include <mpi.h>\n#include <hdf5.h>\n#include <thrift/TApplicationException.h>\n",
                 file_exists);
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].why, "room kernels may not include system header mpi.h");
  EXPECT_EQ(found[2].why, "room kernels may not include system header thrift/");
}

TEST(Architecture, RoomsSeeKernelsHeadersAndGeneratedWireHeaders) {
  const std::vector<Violation> found =
      check_file(rules(), kRoot, "parameter_server/server/example.cc",
                 "#include \"hybrec/kernels/error.h\"\n#include \"ParameterServer.h\"\n"
                 "#include \"parameter_server/store/row_store.h\"\n",
                 file_exists);
  EXPECT_TRUE(found.empty()) << found.front().to_string();
}

TEST(Architecture, AnIncludeOfNoFileAndAFileInNoRoomAreReported) {
  auto found = check_file(rules(), kRoot, "trainer/model/example.cc",
                          "#include \"trainer/model/no_such_header.h\"\n", file_exists);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].why, "resolves to no file of the tree");
  found = check_file(rules(), kRoot, "trainer/undeclared/example.cc", "", file_exists);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].why.find("belongs to no room"), std::string::npos);
}

TEST(Architecture, MalformedRulesAreRejectedNamingTheLine) {
  EXPECT_THROW(parse_rules("kernels\n"), std::runtime_error);
  EXPECT_THROW(parse_rules("trainer/model: trainer/nowhere\n"), std::runtime_error);
  EXPECT_THROW(parse_rules("kernels:\nkernels:\n"), std::runtime_error);
}

// README "Architecture": one table row per room, "| `room` | what it owns |
// `door`, `door` |", listing exactly the doors rooms.txt gives it.
TEST(Architecture, ReadmeTableMatchesTheRules) {
  const std::string readme = read("README.md");
  const std::size_t begin = readme.find("\n## Architecture");
  ASSERT_NE(begin, std::string::npos) << "README.md has no '## Architecture' section";
  const std::size_t end = readme.find("\n## ", begin + 1);
  std::istringstream in(readme.substr(begin, end - begin));
  std::map<std::string, std::set<std::string>> table;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    const std::size_t first_bar = line.find('|', 1);
    const std::size_t last_bar = line.rfind('|', line.size() - 2);
    const std::vector<std::string> first = code_spans(line.substr(1, first_bar - 1));
    ASSERT_FALSE(first.empty()) << line;
    std::set<std::string>& doors = table[first.front()];
    for (const std::string& door : code_spans(line.substr(last_bar + 1))) doors.insert(door);
  }
  const Rules r = rules();
  for (const Room& room : r.rooms) {
    ASSERT_EQ(table.count(room.path), 1u) << "README Architecture table lacks room " << room.path;
    EXPECT_EQ(table[room.path], room.may_include) << "README row of " << room.path;
  }
  EXPECT_EQ(table.size(), r.rooms.size()) << "README lists rooms rooms.txt does not declare";
}

}  // namespace
}  // namespace hybrec::architecture
