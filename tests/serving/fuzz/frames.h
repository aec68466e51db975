// Frames for the fuzz test of the recommender's Thrift port
// (tests/serving/thrift_fuzz_test.cc): well-formed calls as the generated
// client writes them, and everything a broken or hostile client might send
// instead. The byte helpers and the bounded raw socket are the parameter
// server fuzz test's (tests/ps/fuzz/).
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace hybrec::serving::fuzz {

using Rng = std::mt19937_64;

// The server's frame limit in the fuzz test (ThriftServerOptions' default).
constexpr int64_t kMaxFrame = int64_t{16} << 20;
constexpr int64_t kNumItems = 200;  // the small run's catalogue

enum Kind {
  // Checked: the reply is parsed and must be what the contract says.
  kValid,        // a well-formed recommend or recommend_batch: items, or BAD_REQUEST
  kWrongMethod,  // a well-formed call under a method name the service lacks: UNKNOWN_METHOD
  kWrongType,    // a field or argument of the wrong type: BAD_REQUEST naming it
  // Unchecked: the server may answer or close; it must keep serving.
  kRandomBytes,    // raw random bytes, no framing
  kRandomPayload,  // a valid length header, random payload (sometimes after a message header)
  kOversized,      // a length header above the frame limit: the connection is closed
  kNegative,       // a length header with the top bit set: the connection is closed
  kTruncated,      // a frame cut short, then the client goes
  kHugeLength,     // a list or string declaring far more than its small frame holds
  kMutated,        // a well-formed call with bytes flipped, inserted or dropped
  kNumKinds,
};

inline const char* const kKindNames[kNumKinds] = {"valid call (checked)",
                                                  "wrong method name (checked)",
                                                  "wrong field type (checked)",
                                                  "random bytes",
                                                  "random payload",
                                                  "oversized header",
                                                  "negative header",
                                                  "truncated frame",
                                                  "huge declared length",
                                                  "mutated call"};

Kind pick_kind(Rng& rng);

// What a checked frame expects back.
struct Expect {
  std::string method;    // the call's name
  bool batch = false;    // recommend_batch
  int64_t requests = 0;  // of the batch
  std::string words;     // kWrongType: the BAD_REQUEST message must contain these
};

// One frame (length header included, except for kRandomBytes) of `kind`.
std::string make_frame(Kind kind, Rng& rng, Expect* expect);

}  // namespace hybrec::serving::fuzz
