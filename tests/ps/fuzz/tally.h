// What the parameter-server fuzz test sent, and what went wrong: frame counts
// by kind and by how connections ended, and the failures seen (the first 20
// kept for the report). Shared by all the test's worker threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace hybrec::ps::fuzz {

enum Kind {
  kRandomBytes,    // raw random bytes, no framing (0-3 bytes: a cut-off length header)
  kRandomPayload,  // a valid length header, random payload (sometimes after a valid message header)
  kOversized,      // a length header above --max-frame-mib
  kNegative,       // a length header with the top bit set (incl. an unframed message)
  kTruncated,      // a header announcing more than is sent, then the client goes
  kMutated,        // a well-formed request to the fuzz table, mutated
  kValidFuzz,      // a well-formed request to the fuzz table
  kRejected,       // a well-formed request the service must refuse (reply checked)
  kDropped,        // a valid push to the real table the server must not process (drop checked)
  kSlow,           // a request sent byte by byte
  kNumKinds,
};
inline const char* const kKindNames[kNumKinds] = {"random bytes",
                                                  "random payload",
                                                  "oversized header",
                                                  "negative header",
                                                  "truncated frame",
                                                  "mutated request",
                                                  "valid fuzz request",
                                                  "rejected request (checked)",
                                                  "unprocessable push (checked)",
                                                  "slow byte-by-byte"};

struct Tally {
  std::atomic<int64_t> frames[kNumKinds] = {};
  std::atomic<int64_t> connections{0}, replies_checked{0}, drops_checked{0};
  std::atomic<int64_t> drained{0}, closed_early{0}, reset{0};
  int64_t total() const {
    int64_t t = 0;
    for (const auto& f : frames) t += f.load();
    return t;
  }
};

class Failures {
 public:
  void add(std::string what) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++count_;
    if (first_.size() < 20) first_.push_back(std::move(what));
  }
  int64_t count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return count_;
  }
  std::string describe() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out;
    for (const auto& f : first_) out += "  " + f + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  int64_t count_ = 0;
  std::vector<std::string> first_;
};

}  // namespace hybrec::ps::fuzz
