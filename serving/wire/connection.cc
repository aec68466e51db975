#include "serving/wire/connection.h"

#include <thrift/TOutput.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>

#include "hybrec/kernels/error.h"
#include "recommender_constants.h"

namespace hybrec::serving::wire {

namespace at = apache::thrift;

Address parse_address(const std::string& text) {
  const size_t colon = text.rfind(':');
  HYBREC_CHECK(colon != std::string::npos && colon > 0, "address '", text, "' is not HOST:PORT");
  Address a;
  a.host = text.substr(0, colon);
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  const std::string port = text.substr(colon + 1);
  char* end = nullptr;
  errno = 0;
  const long p = std::strtol(port.c_str(), &end, 10);
  HYBREC_CHECK(!port.empty() && *end == '\0' && errno == 0 && p >= 1 && p <= 65535, "address '",
               text, "': port '", port, "' is not in [1, 65535]");
  a.port = static_cast<int>(p);
  return a;
}

Connection::Connection(const Address& address, int timeout_ms) : address_(address) {
  // Thrift prints its own line for every failed connect; the error thrown
  // below says the same, once, naming the recommender.
  static std::once_flag quiet;
  std::call_once(quiet, [] { at::GlobalOutput.setOutputFunction([](const char*) {}); });
  auto socket = std::make_shared<at::transport::TSocket>(address.host, address.port);
  socket->setConnTimeout(timeout_ms);
  socket->setRecvTimeout(timeout_ms);
  socket->setSendTimeout(timeout_ms);
  transport_ = std::make_shared<at::transport::TFramedTransport>(socket);
  client_ = std::make_unique<RecommenderServiceClient>(
      std::make_shared<at::protocol::TBinaryProtocol>(transport_, 0, 0, true, true));
  try {
    transport_->open();
  } catch (const at::TException& e) {
    HYBREC_THROW("cannot reach the recommender at ", address.to_string(), ": ", e.what());
  }
  try {
    client_->health(health_);
  } catch (const at::TException& e) {
    HYBREC_THROW("the server at ", address.to_string(),
                 " did not answer health() as recommender.thrift says (is it the Thrift port "
                 "of `hybrec serve`?): ",
                 e.what());
  }
  HYBREC_CHECK(health_.wire_version == g_recommender_constants.WIRE_VERSION, "the recommender at ",
               address.to_string(), " speaks wire version ", health_.wire_version,
               "; this client speaks ", g_recommender_constants.WIRE_VERSION);
}

Connection::~Connection() {
  try {
    transport_->close();
  } catch (const at::TException&) {
    // Closing a connection the server already dropped: nothing left to do.
  }
}

std::string error_code_name(ErrorCode::type code) {
  switch (code) {
    case ErrorCode::BAD_REQUEST:
      return "BAD_REQUEST";
    case ErrorCode::INTERNAL:
      return "INTERNAL";
  }
  return "error code " + std::to_string(static_cast<int>(code));
}

}  // namespace hybrec::serving::wire
