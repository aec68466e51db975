// Raw space in a reply: the server writes a pull reply's rows straight into
// the reply buffer instead of building a zero-filled string that Thrift then
// copies in (two passes over every reply byte saved). The nonblocking server
// gives the processor a TMemoryBuffer to write its reply into (it frames the
// reply itself, in 4 bytes it reserved at the buffer's start); any other
// output transport takes the generated path.
#pragma once

#include <thrift/transport/TBufferTransports.h>

#include <cstdint>

namespace hybrec::ps {

class ReplyBuffer {
 public:
  // Where the reply about to be written starts (what the buffer holds
  // already stays).
  explicit ReplyBuffer(apache::thrift::transport::TMemoryBuffer& memory)
      : memory_(memory), start_(memory.available_read()) {}

  // The next n bytes of the reply, uninitialised, for the caller to fill.
  uint8_t* reserve(uint32_t n) {
    uint8_t* p = memory_.getWritePtr(n);
    memory_.wroteBytes(n);
    return p;
  }

  // Drops what was written since construction (a reply abandoned half way).
  // Nothing has been read from an output buffer, so resetting it and
  // re-marking its first start_ bytes as written keeps them as they were.
  void discard() {
    memory_.resetBuffer();
    memory_.getWritePtr(start_);
    memory_.wroteBytes(start_);
  }

 private:
  apache::thrift::transport::TMemoryBuffer& memory_;
  uint32_t start_;
};

}  // namespace hybrec::ps
