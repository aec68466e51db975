// The connections the fuzz test's workers open against the server, one
// function per kind; each counts what it sent in a Tally and reports what the
// server got wrong to Failures.
#pragma once

#include <cstdint>

#include "tables.h"
#include "tally.h"

namespace hybrec::ps::fuzz {

// A connection of probes, each answered and checked; sometimes one drop last.
// Returns the frames it sent, -1 when it could not connect.
int checked_connection(int port, Rng& rng, const Snapshot& snap, Tally& tally, Failures& failures);

// A connection of fuzz frames, then a half-close, a close or a reset.
// Returns the frames it sent, -1 when it could not connect.
int fuzz_connection(int port, Rng& rng, Tally& tally, Failures& failures);

// Requests trickled one byte at a time; some completed and checked, some cut.
void slow_connections(int port, uint64_t seed, const Snapshot& snap, Tally& tally,
                      Failures& failures);

}  // namespace hybrec::ps::fuzz
