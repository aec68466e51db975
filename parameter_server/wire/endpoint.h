// Where a parameter-server shard listens, as both ends name it.
#pragma once

#include <string>
#include <vector>

namespace hybrec::ps {

struct Endpoint {
  std::string host;
  int port = 0;
  std::string to_string() const { return host + ":" + std::to_string(port); }
};

// "host:port[,host:port...]"; throws hybrec::Error naming the bad entry.
std::vector<Endpoint> parse_endpoints(const std::string& list);

}  // namespace hybrec::ps
