// The server's Thrift processor. It differs from the generated one in two
// ways, and the bytes on the wire are exactly the generated processor's
// (tests/ps/wire_golden_test.cc compares the two):
//   - presence: the generated code hands a handler zero for a field the
//     request left out (a 5-byte `load` frame would load version 0). Every
//     call here checks that each argument it reads was sent, and answers
//     BAD_REQUEST naming the first missing one without calling the handler;
//   - pull writes its rows straight into the reply frame (reply_frame.h).
#pragma once

#include <memory>

#include "ParameterServer.h"
#include "parameter_server/server/service.h"

namespace hybrec::ps {

class PsProcessor : public wire::ParameterServerProcessor {
 public:
  explicit PsProcessor(std::shared_ptr<PsService> service)
      : ParameterServerProcessor(service), service_(std::move(service)) {}

 protected:
  bool dispatchCall(apache::thrift::protocol::TProtocol* in,
                    apache::thrift::protocol::TProtocol* out, const std::string& name,
                    int32_t seqid, void* context) override;

 private:
  void pull(apache::thrift::protocol::TProtocol* in, apache::thrift::protocol::TProtocol* out,
            int32_t seqid);

  std::shared_ptr<PsService> service_;
};

}  // namespace hybrec::ps
