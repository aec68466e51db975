// A client connection to `hybrec serve`'s Thrift port (recommender.thrift),
// shared by `hybrec recommend` and the tests: framed, strict binary
// protocol, bounded connect and call timeouts, and the wire version checked
// on connect, so a client never talks past a server speaking another one.
#pragma once

#include <memory>
#include <string>

#include "RecommenderService.h"

namespace apache::thrift::transport {
class TTransport;
}

namespace hybrec::serving::wire {

struct Address {
  std::string host;
  int port = 0;
  std::string to_string() const { return host + ":" + std::to_string(port); }
};

// "HOST:PORT" (a bracketed IPv6 host: "[::1]:PORT"); throws hybrec::Error
// naming what is wrong with it.
Address parse_address(const std::string& text);

class Connection {
 public:
  // Connects and reads health(); throws hybrec::Error naming the address
  // when the server cannot be reached, does not speak recommender.thrift
  // (another service on that port) or speaks another WIRE_VERSION.
  explicit Connection(const Address& address, int timeout_ms = 10000);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  RecommenderServiceClient& client() { return *client_; }
  // What health() answered on connect.
  const Health& health() const { return health_; }
  const Address& address() const { return address_; }

 private:
  Address address_;
  std::shared_ptr<apache::thrift::transport::TTransport> transport_;
  std::unique_ptr<RecommenderServiceClient> client_;
  Health health_;
};

// "BAD_REQUEST", "INTERNAL" (or the number of a code this build does not know).
std::string error_code_name(ErrorCode::type code);

}  // namespace hybrec::serving::wire
