// What bounds the memory one request can make a Thrift server of hybrec
// allocate (the parameter server's and the recommender's). The nonblocking server caps a frame's size before reading it;
// inside a frame, Thrift checks a list's declared length only against the
// protocol's limits and against what its transport says is left of the
// message. The server reads each request from a TMemoryBuffer made with
// Thrift's default configuration, which says 100 MiB are left whatever the
// frame holds, so a 30-byte frame declaring ten million recent items would
// have 80 MB allocated. The transport here says what is really left, the
// rest of the frame, so no list of numbers can claim more than the frame's
// own bytes. (Thrift counts a struct as 0 bytes, so this does not bound a
// list of structs: the recommender's processor checks recommend_batch's
// length itself.)
#pragma once

#include <thrift/TConfiguration.h>
#include <thrift/transport/TTransport.h>

#include <memory>

namespace hybrec::ps {

class FrameBoundedInputFactory : public apache::thrift::transport::TTransportFactory {
 public:
  explicit FrameBoundedInputFactory(std::shared_ptr<apache::thrift::TConfiguration> config)
      : config_(std::move(config)) {}
  std::shared_ptr<apache::thrift::transport::TTransport> getTransport(
      std::shared_ptr<apache::thrift::transport::TTransport> t) override;

 private:
  std::shared_ptr<apache::thrift::TConfiguration> config_;
};

}  // namespace hybrec::ps
