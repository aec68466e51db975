// Bytes for the parameter-server fuzz test: big-endian words, frames, random
// bytes and floats, and requests encoded the way the generated Thrift client
// writes them (strict TBinaryProtocol, unframed until framed()).
#pragma once

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ParameterServer.h"
#include "tables.h"

namespace hybrec::ps::fuzz {

namespace at = apache::thrift;

std::string be32(uint32_t v);

std::string framed(const std::string& message);

std::string random_bytes(Rng& rng, size_t n);

template <typename T>
std::string pack(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::vector<float> random_floats(Rng& rng, size_t n);

// One request as the generated client writes it, unframed.
template <typename Fn>
std::string encode(Fn&& send) {
  auto memory = std::make_shared<at::transport::TMemoryBuffer>();
  wire::ParameterServerClient client(
      std::make_shared<at::protocol::TBinaryProtocol>(memory, 0, 0, true, true));
  send(client);
  return memory->getBufferAsString();
}

// A strict message is i32 version|type, string name, i32 seqid, then the
// argument struct; these rebuild one with another header.
std::string message_args(const std::string& message);
std::string strict_message(uint32_t version_and_type, const std::string& name,
                           const std::string& args);

}  // namespace hybrec::ps::fuzz
