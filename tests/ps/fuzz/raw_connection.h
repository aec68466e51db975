// Raw connections for the parameter-server fuzz test: non-blocking, every
// wait bounded, so the test cannot hang on a server that stops reading or
// answering.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

#include "tables.h"

namespace hybrec::ps::fuzz {

class Conn {
 public:
  enum class Read { kData, kClosed, kTimeout };

  explicit Conn(int port);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool ok() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }

  // Writes all of bytes. With discard, whatever the server answers meanwhile is
  // read and dropped, so neither side can stall on a full socket buffer.
  // False when the server closed or reset the connection or time ran out.
  bool send(const std::string& bytes, bool discard, int timeout_ms = 10000);

  // One reply frame, its 4-byte header included.
  Read read_frame(std::string* frame, int timeout_ms);

  // Reads until the server closes (kClosed) or time runs out (kTimeout).
  Read drain(int timeout_ms, int64_t* bytes = nullptr);

  void shutdown_write();
  // Closes with a RST instead of a FIN: the client vanishing outright.
  void reset();

 private:
  static int left_ms(Clock::time_point deadline);

  Read read_exact(size_t n, std::string* out, Clock::time_point deadline);

  int fd_ = -1;
  std::string error_;
};

const char* read_name(Conn::Read r);

// For gtest's messages.
void PrintTo(Conn::Read r, std::ostream* os);

}  // namespace hybrec::ps::fuzz
