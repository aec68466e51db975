// Fuzz frames for the parameter-server fuzz test: random and mutated bytes,
// never the real table's name. They may only ever touch the fuzz table
// (kFuzzTable); scrub() makes sure no parse of them can yield "items".
#pragma once

#include <string>

#include "tables.h"
#include "tally.h"

namespace hybrec::ps::fuzz {

// A well-formed request to the fuzz table, unframed.
std::string fuzz_message(Rng& rng);

// One frame of a kind pick_fuzz_kind() picks (any other kind: a well-formed
// fuzz-table request, framed).
std::string fuzz_frame(Kind kind, Rng& rng);

Kind pick_fuzz_kind(Rng& rng);

// Without the byte 'm' no string the server parses can be "items" (see the
// top of fuzz_test.cc).
void scrub(std::string* bytes);

}  // namespace hybrec::ps::fuzz
