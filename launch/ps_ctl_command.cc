// hybrec ps-ctl: operator commands against running parameter-server shards.
#include <iostream>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/flags.h"
#include "launch/ps_auth_flags.h"
#include "parameter_server/client/client.h"

namespace hybrec::launch {

int run_ps_ctl(int argc, char** argv) {
  Flags flags(
      "hybrec ps-ctl",
      "hybrec ps-ctl --ps HOST:PORT[,HOST:PORT...] {health|stats|save VERSION|load VERSION}\n"
      "       save and load need --run ID: snapshots are kept per run (runs/ID/vVERSION)");
  flags.add("ps", "LIST", "every shard's address, in shard order");
  flags.add("run", "ID", "the run whose snapshot save/load names (a trainer's is in its log)");
  flags.add("timeout-s", "S",
            "per-call timeout (default 600: a save of a large shard takes a while)");
  add_ps_auth_flags(flags, false);
  flags.add("help", "", "print this help");
  flags.parse(argc, argv, 2);
  if (flags.has("help")) {
    std::cout << flags.help();
    return 0;
  }
  const auto& args = flags.positional();
  HYBREC_CHECK(!args.empty(), "hybrec ps-ctl: missing command (health, stats, save or load)");
  const std::string verb = args[0];
  const bool versioned = verb == "save" || verb == "load";
  HYBREC_CHECK(verb == "health" || verb == "stats" || versioned, "hybrec ps-ctl: unknown command '",
               verb, "'");
  HYBREC_CHECK(args.size() == (versioned ? 2u : 1u), "hybrec ps-ctl ", verb,
               versioned ? " takes one VERSION" : " takes no argument");

  ps::ClientOptions options;
  options.io_timeout_ms = static_cast<int>(flags.get_double("timeout-s", 600, 0.001, 86400) * 1000);
  options.max_attempts = 2;
  options.tls = tls_files(flags);
  options.auth_token_file = auth_token_file(flags);
  ps::PsClient client(ps::parse_endpoints(flags.require("ps")), options);

  if (verb == "health") {
    int down = 0;
    for (const auto& h : client.health()) {
      if (h.reachable) {
        std::cout << h.endpoint.to_string() << ": serving shard " << h.shard_index << "/"
                  << h.num_shards << ", wire version " << h.wire_version << ", incarnation "
                  << h.incarnation << "\n";
      } else {
        ++down;
        std::cout << h.endpoint.to_string() << ": DOWN: " << h.error << "\n";
      }
    }
    return down == 0 ? 0 : 1;
  }
  if (verb == "stats") {
    for (const std::string& s : client.stats()) std::cout << s;
    return 0;
  }
  char* end = nullptr;
  const long long version = std::strtoll(args[1].c_str(), &end, 10);
  HYBREC_CHECK(*end == '\0' && !args[1].empty() && version >= 0, "hybrec ps-ctl ", verb,
               ": VERSION '", args[1], "' is not a non-negative integer");
  const std::string run = flags.require("run");
  if (verb == "save") {
    client.save(run, version);
    std::cout << "saved version " << version << " on " << client.num_shards() << " shards\n";
  } else {
    client.load(run, version);
    std::cout << "loaded version " << version << " on " << client.num_shards() << " shards\n";
  }
  return 0;
}

}  // namespace hybrec::launch
