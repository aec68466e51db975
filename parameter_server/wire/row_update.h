// A table's row update: one gradient applied to one row and its optimizer
// state, laid out as [row (dim) | state (state_floats(spec))]. Both ends use
// it: the server on every push, and a trainer's row cache (trainer/loop/
// row_cache.h) on the rows it holds, so the two agree bit for bit.
//
// Row-wise Adagrad and Adam are the kernels library's CPU per-row functions
// (rowwise_adagrad_row, adam_row), so a row updated here equals a row updated
// by the trainer's fused embedding update on the same gradient.
#pragma once

#include <cstdint>

#include "parameter_server/wire/table_spec.h"

namespace hybrec::ps {

// Applies grad [dim] to row and state in place.
void apply_update(const TableSpec& spec, float* row, float* state, const float* grad);

// The state of a row that has never been updated (all zeros).
void reset_state(const TableSpec& spec, float* state);

}  // namespace hybrec::ps
