// A framed transport whose next frame can hand out raw space: the server
// writes a pull reply's rows straight into the frame instead of building a
// zero-filled string that Thrift then copies in (two passes over every
// reply byte saved). Built on TFramedTransport 0.17's write buffer (wBuf_,
// wBufSize_, wBase_, wBound_), growing it the way its writeSlow does.
#pragma once

#include <thrift/transport/TBufferTransports.h>

#include <cstdint>
#include <cstring>
#include <memory>

namespace hybrec::ps {

class ReplyFrameTransport : public apache::thrift::transport::TFramedTransport {
 public:
  using TFramedTransport::TFramedTransport;

  // The next n bytes of the frame being written, uninitialised, for the
  // caller to fill before flush().
  uint8_t* reserve(uint32_t n) {
    if (static_cast<uint64_t>(wBound_ - wBase_) < n) grow(n);
    uint8_t* p = wBase_;
    wBase_ += n;
    return p;
  }

  // Drops whatever was written to the current frame (a reply abandoned half
  // way), keeping the space flush() fills with the frame's length.
  void discard_frame() { wBase_ = wBuf_.get() + sizeof(uint32_t); }

 private:
  void grow(uint32_t n) {
    const uint64_t have = static_cast<uint64_t>(wBase_ - wBuf_.get());
    if (have + n > 0x7fffffffu) {
      throw apache::thrift::transport::TTransportException(
          apache::thrift::transport::TTransportException::BAD_ARGS, "reply frame over 2 GiB");
    }
    uint64_t size = wBufSize_ > 0 ? wBufSize_ : 1;
    while (size < have + n) size *= 2;
    std::unique_ptr<uint8_t[]> bigger(new uint8_t[size]);
    std::memcpy(bigger.get(), wBuf_.get(), have);
    wBuf_.reset(bigger.release());
    wBufSize_ = static_cast<uint32_t>(size);
    wBase_ = wBuf_.get() + have;
    wBound_ = wBuf_.get() + wBufSize_;
  }
};

}  // namespace hybrec::ps
