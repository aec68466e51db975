// hybrec recommend: asks a running `hybrec serve` over its Thrift port
// (serving/wire/recommender.thrift) and prints the list.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/flags.h"
#include "launch/recommend_output.h"
#include "serving/wire/connection.h"

namespace hybrec::launch {

namespace {

namespace wire = hybrec::serving::wire;

// "1,2,3" as item ids; throws naming the entry that is not one.
std::vector<int64_t> parse_items(const std::string& flag, const std::string& list) {
  std::vector<int64_t> items;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    const std::string entry = list.substr(start, comma - start);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(entry.c_str(), &end, 10);
    HYBREC_CHECK(!entry.empty() && *end == '\0' && errno == 0, "hybrec recommend: --", flag,
                 " entry '", entry, "' is not an item id (expected a list like 1,2,3)");
    items.push_back(v);
    start = comma + 1;
  }
  return items;
}

}  // namespace

int run_recommend(int argc, char** argv) {
  Flags flags("hybrec recommend",
              "hybrec recommend --serve HOST:PORT [--user ID] [-k K] [--query TEXT] "
              "[--items 1,2,3] [--exclude-seen 0|1] [--explain [--explain-k N]] [--json]");
  flags.add("serve", "HOST:PORT", "the Thrift port of a running `hybrec serve`");
  flags.add("user", "ID", "the user (default: none, a visitor without an account)");
  flags.add("k", "K", "how many items (default 10); also -k K");
  flags.add("query", "TEXT", "search text the list should match");
  flags.add("items", "LIST", "the session's recent items, oldest first (1,2,3)");
  flags.add("exclude", "LIST", "items never to return (1,2,3)");
  flags.add("exclude-seen", "0|1", "drop the user's and the session's items (default 1)");
  flags.add("explain", "",
            "a sentence on each of the first explain-k items (the server needs "
            "--explain-model)");
  flags.add("explain-k", "N", "with --explain: how many items to explain (default 3, at most 10)");
  flags.add("json", "", "print JSON instead of a table");
  flags.add("title-width", "W", "characters of each title the table shows (default 40)");
  flags.add("timeout-s", "S", "connect and call timeout (default 10; 120 with --explain)");
  flags.add("help", "", "print this help");
  // The Flags parser knows --name only; -k is the spelling people expect.
  std::vector<std::string> args(argv, argv + argc);
  for (std::string& a : args) {
    if (a == "-k") a = "--k";
  }
  std::vector<char*> argp;
  for (std::string& a : args) argp.push_back(a.data());
  flags.parse(argc, argp.data(), 2);
  if (flags.has("help")) {
    std::cout << flags.help();
    return 0;
  }
  HYBREC_CHECK(flags.positional().empty(), "hybrec recommend: unexpected argument '",
               flags.positional()[0], "'");

  wire::RecommendRequest request;
  const int64_t user = flags.get_int("user", -1, -1, INT64_MAX);
  if (user >= 0) request.__set_user(user);
  request.__set_k(flags.get_int("k", 10, 1, INT32_MAX));
  request.__set_exclude_seen(flags.get_int("exclude-seen", 1, 0, 1) == 1);
  if (flags.has("query")) request.__set_query(flags.get("query", ""));
  if (flags.has("items")) request.__set_recent_items(parse_items("items", flags.get("items", "")));
  if (flags.has("exclude")) {
    request.__set_exclude_items(parse_items("exclude", flags.get("exclude", "")));
  }
  if (flags.has("explain")) {
    request.__set_explain(true);
    request.__set_explain_k(flags.get_int("explain-k", 3, 1, 10));
  }
  HYBREC_CHECK(flags.has("explain") || !flags.has("explain-k"),
               "hybrec recommend: --explain-k needs --explain");
  const int title_width = static_cast<int>(flags.get_int("title-width", 40, 8, 400));
  // Each explanation is a decode of its own: seconds, not milliseconds.
  const double default_timeout_s = flags.has("explain") ? 120 : 10;
  const int timeout_ms =
      static_cast<int>(flags.get_double("timeout-s", default_timeout_s, 0.001, 3600) * 1000);

  wire::Connection connection(wire::parse_address(flags.require("serve")), timeout_ms);
  wire::RecommendReply reply;
  try {
    connection.client().recommend(reply, request);
  } catch (const wire::ServingError& e) {
    HYBREC_THROW("the recommender at ", connection.address().to_string(),
                 " refused: ", wire::error_code_name(e.code), ": ", e.message);
  } catch (const apache::thrift::TException& e) {
    HYBREC_THROW("the recommender at ", connection.address().to_string(), " failed: ", e.what());
  }
  if (flags.has("json")) {
    print_json(std::cout, user, reply);
  } else {
    print_table(std::cout, user, reply, title_width);
  }
  return 0;
}

}  // namespace hybrec::launch
