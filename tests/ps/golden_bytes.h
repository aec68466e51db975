// The Thrift binary protocol written out by hand, for the wire tests: the
// expected bytes of a call or reply are built here from the protocol spec
// (strict message header, field headers as type byte + big-endian i16 id,
// big-endian integers, length-prefixed strings, framed by a big-endian
// length), never by the code under test.
#pragma once

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <cstring>
#include <string>

#include "ParameterServer.h"

namespace hybrec::ps::golden {

namespace at = apache::thrift;

enum Type : uint8_t {
  kStop = 0,
  kBool = 2,
  kDouble = 4,
  kI32 = 8,
  kI64 = 10,
  kString = 11,
  kStruct = 12,
  kList = 15
};

// Thrift binary protocol, written out by hand.
struct Golden {
  std::string b;
  Golden& u8(uint8_t v) {
    b.push_back(static_cast<char>(v));
    return *this;
  }
  Golden& i16(int16_t v) { return u8(static_cast<uint8_t>(v >> 8)).u8(static_cast<uint8_t>(v)); }
  Golden& i32(int32_t v) {
    for (int s = 24; s >= 0; s -= 8) u8(static_cast<uint8_t>(static_cast<uint32_t>(v) >> s));
    return *this;
  }
  Golden& i64(int64_t v) {
    for (int s = 56; s >= 0; s -= 8) u8(static_cast<uint8_t>(static_cast<uint64_t>(v) >> s));
    return *this;
  }
  Golden& dbl(double v) {
    int64_t bits;
    std::memcpy(&bits, &v, 8);
    return i64(bits);
  }
  Golden& str(const std::string& s) {
    i32(static_cast<int32_t>(s.size()));
    b += s;
    return *this;
  }
  Golden& field(Type t, int16_t id) { return u8(t).i16(id); }
  Golden& stop() { return u8(kStop); }
  // Strict header: version 1 in the top half, message type in the low byte.
  Golden& message(const std::string& name, uint8_t type) {
    return i32(static_cast<int32_t>(0x80010000u | type)).str(name).i32(0);
  }
  std::string framed() const {
    Golden f;
    f.i32(static_cast<int32_t>(b.size()));
    return f.b + b;
  }
};

constexpr uint8_t kCall = 1, kReply = 2;

inline std::string hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
    out += ' ';
  }
  return out;
}

// Payloads as packed little-endian bytes, per the contract.
inline const std::string kKeys =
    std::string("\x07\0\0\0\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff", 16);
inline const std::string kRows = std::string("\0\0\x80\x3f\0\0\0\xc0", 8);  // 1.0f, -2.0f

// A framed request run through processor; returns its reply. memory_reply:
// the reply goes unframed into a TMemoryBuffer, as the nonblocking server
// hands it to the processor (the direct pull path; the server frames it
// itself); otherwise through a framed transport.
inline std::string process_with(at::TProcessor& processor, const std::string& framed_request,
                                bool memory_reply = false) {
  auto in_mem = std::make_shared<at::transport::TMemoryBuffer>(
      reinterpret_cast<uint8_t*>(const_cast<char*>(framed_request.data())),
      static_cast<uint32_t>(framed_request.size()));
  auto out_mem = std::make_shared<at::transport::TMemoryBuffer>();
  std::shared_ptr<at::transport::TTransport> out_frame = out_mem;
  if (!memory_reply) out_frame = std::make_shared<at::transport::TFramedTransport>(out_mem);
  auto in = std::make_shared<at::protocol::TBinaryProtocol>(
      std::make_shared<at::transport::TFramedTransport>(in_mem), 0, 0, true, true);
  auto out = std::make_shared<at::protocol::TBinaryProtocol>(out_frame, 0, 0, true, true);
  if (!processor.process(in, out, nullptr)) return "<processor refused the request>";
  return out_mem->getBufferAsString();
}

}  // namespace hybrec::ps::golden
