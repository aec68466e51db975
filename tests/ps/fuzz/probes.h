// Requests the parameter server must reject, checked one reply at a time, and
// "drops": valid pushes to the real table wrapped in something the server
// must not process at all. These are the only frames of the fuzz test that
// name the real table (kTable); each is exact and well-formed.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tables.h"

namespace hybrec::ps::fuzz {

enum class Call { kCreateTable, kPull, kPush, kAssign, kSave, kLoad, kStats, kHealth };
constexpr int kUnknownMethod = -1;  // expected: TApplicationException UNKNOWN_METHOD

struct Probe {
  std::string what;
  std::string frame;
  Call call = Call::kHealth;
  int error = 0;     // expected PsError code; 0: success; kUnknownMethod
  std::string rows;  // pull: the expected rows
};

// n keys of the snapshot (existing rows), and their indices.
std::vector<int64_t> pick_keys(Rng& rng, const Snapshot& snap, int n, std::vector<int>* index);

// grads/rows bytes for n keys of kTable with one value replaced by a NaN or an
// infinity (bit patterns, so signalling NaNs survive).
std::string with_non_finite(Rng& rng, int n);

Probe make_probe(Rng& rng, const Snapshot& snap);

// Empty when reply is what the probe expects, else what is wrong.
std::string check_reply(const Probe& p, const std::string& reply);

// A valid push to the real table wrapped so the server must not process it;
// sent last on a connection, which the server should then close unanswered.
// Returns what it is and its bytes.
std::pair<std::string, std::string> make_drop(Rng& rng, const Snapshot& snap);

}  // namespace hybrec::ps::fuzz
