#include "parameter_server/wire/errors.h"

namespace hybrec::ps {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUnknownTable:
      return "UNKNOWN_TABLE";
    case ErrorCode::kDimMismatch:
      return "DIM_MISMATCH";
    case ErrorCode::kLengthMismatch:
      return "LENGTH_MISMATCH";
    case ErrorCode::kNonFinite:
      return "NON_FINITE";
    case ErrorCode::kTooLarge:
      return "TOO_LARGE";
    case ErrorCode::kBadSpec:
      return "BAD_SPEC";
    case ErrorCode::kTableConflict:
      return "TABLE_CONFLICT";
    case ErrorCode::kCheckpoint:
      return "CHECKPOINT";
    case ErrorCode::kNotConfigured:
      return "NOT_CONFIGURED";
    case ErrorCode::kInternal:
      return "INTERNAL";
    case ErrorCode::kBadRequest:
      return "BAD_REQUEST";
    case ErrorCode::kWrongShard:
      return "WRONG_SHARD";
    case ErrorCode::kUnauthenticated:
      return "UNAUTHENTICATED";
  }
  return "UNKNOWN_ERROR";
}

}  // namespace hybrec::ps
