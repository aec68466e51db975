// The server's Thrift processor. It differs from the generated one in these
// ways, and the bytes on the wire are exactly the generated processor's
// (tests/ps/wire_golden_test.cc compares the two):
// - presence: the generated code hands a handler zero for a field the
//   request left out (a 5-byte `load` frame would load version 0). Every
//   call here checks that each argument it reads was sent, and answers
//   BAD_REQUEST naming the first missing one without calling the handler.
// - pull writes its rows straight into the reply buffer (reply_buffer.h)
//   when the output transport is the nonblocking server's TMemoryBuffer.
// - Token authentication: with a token, auth_begin / auth_finish run the
//   challenge-response of ps.thrift against the connection's state
//   (connections.h, the `context` Thrift passes along), and every other call
//   except health on a connection that has not authenticated is answered
//   with PsError UNAUTHENTICATED (field 1 of its result, which every method
//   that can fail declares) without reaching the service.
// - Each call marks its connection busy while it runs (idle timeout).
#pragma once

#include <memory>
#include <string>

#include "ParameterServer.h"
#include "parameter_server/server/service.h"

namespace hybrec::ps {

struct Connection;

class PsProcessor : public wire::ParameterServerProcessor {
 public:
  // token empty: no authentication (every call is served).
  explicit PsProcessor(std::shared_ptr<PsService> service, std::string token = {})
      : ParameterServerProcessor(service), service_(std::move(service)), token_(std::move(token)) {}

 protected:
  bool dispatchCall(apache::thrift::protocol::TProtocol* in,
                    apache::thrift::protocol::TProtocol* out, const std::string& name,
                    int32_t seqid, void* context) override;

 private:
  bool dispatch(apache::thrift::protocol::TProtocol* in, apache::thrift::protocol::TProtocol* out,
                const std::string& name, int32_t seqid, Connection* connection, void* context);
  // The calls whose arguments are checked for presence (all but health,
  // stats and the auth calls).
  bool dispatch_checked(apache::thrift::protocol::TProtocol* in,
                        apache::thrift::protocol::TProtocol* out, const std::string& name,
                        int32_t seqid);
  void pull(apache::thrift::protocol::TProtocol* in, apache::thrift::protocol::TProtocol* out,
            int32_t seqid);
  void auth_begin(apache::thrift::protocol::TProtocol* in, apache::thrift::protocol::TProtocol* out,
                  int32_t seqid, Connection* connection);
  void auth_finish(apache::thrift::protocol::TProtocol* in,
                   apache::thrift::protocol::TProtocol* out, int32_t seqid, Connection* connection);

  std::shared_ptr<PsService> service_;
  const std::string token_;
};

}  // namespace hybrec::ps
