// Typed request errors of the parameter server.
//
// Everything the server rejects carries one of these codes (mirroring
// wire::ErrorCode in ps.thrift) and a message naming the offending value, so
// the service can answer with a PsError and keep serving. Library code only
// throws; the server's main decides what to do with a failure.
#pragma once

#include <string>

#include "hybrec/kernels/error.h"

namespace hybrec::ps {

enum class ErrorCode {
  kUnknownTable = 1,
  kDimMismatch = 2,
  kLengthMismatch = 3,
  kNonFinite = 4,
  kTooLarge = 5,
  kBadSpec = 6,
  kTableConflict = 7,
  kCheckpoint = 8,
  kNotConfigured = 9,
  kInternal = 10,
  kBadRequest = 11,
  kWrongShard = 12,
  kUnauthenticated = 13,
  kLast = kUnauthenticated,  // the highest code this build knows
};

const char* error_code_name(ErrorCode code);

class RequestError : public Error {
 public:
  RequestError(ErrorCode code, const std::string& message, const char* file, int line)
      : Error(message, file, line), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace hybrec::ps

// Throws RequestError(code, message built from the remaining arguments).
#define HYBREC_PS_REJECT(code, ...) \
  throw ::hybrec::ps::RequestError(code, ::hybrec::detail::concat(__VA_ARGS__), __FILE__, __LINE__)
