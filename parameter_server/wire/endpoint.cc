#include "parameter_server/wire/endpoint.h"

#include <sstream>

#include "hybrec/kernels/error.h"

namespace hybrec::ps {

std::vector<Endpoint> parse_endpoints(const std::string& list) {
  std::vector<Endpoint> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t colon = item.rfind(':');
    HYBREC_CHECK(colon != std::string::npos && colon > 0 && colon + 1 < item.size(),
                 "parameter server address '", item, "' is not HOST:PORT");
    Endpoint e;
    e.host = item.substr(0, colon);
    const std::string port = item.substr(colon + 1);
    HYBREC_CHECK(port.find_first_not_of("0123456789") == std::string::npos && port.size() <= 5,
                 "port '", port, "' of '", item, "' is not a number");
    e.port = std::stoi(port);
    HYBREC_CHECK(e.port >= 1 && e.port <= 65535, "port ", e.port, " of '", item,
                 "' out of range [1, 65535]");
    out.push_back(e);
  }
  HYBREC_CHECK(!out.empty(), "no parameter server address in '", list, "'");
  return out;
}

}  // namespace hybrec::ps
