// Packed variable-length batches: only the real positions of a batch are
// stored. The rows of all sequences are packed one sequence after another
// into a [rows, dim] matrix, and sequences of equal length are adjacent, so
// the position-wise ops (linear, layer norm, GELU, adds) run on the real rows
// alone and the attention core runs once per group of equal-length
// sequences, as one [examples, len, heads, head_dim] block with no mask.
// Attending to a sequence's own keys is what a masked attention over padded
// slots computes, so this equals the padded computation up to float
// rounding, while padding costs nothing.
#pragma once

#include <cstdint>
#include <vector>

namespace hybrec::nn {

// `examples` sequences of `len` rows each, whose rows are
// [first_row, first_row + examples * len), sequence by sequence.
struct LengthGroup {
  int64_t len = 0;
  int64_t examples = 0;
  int64_t first_row = 0;
};

// The real positions of a batch: `rows` packed rows covered by `num_groups`
// consecutive groups (the first starting at row 0, each next one where the
// previous ends). The sequences of a batch, in packed order, are the
// examples of groups[0], then of groups[1], and so on.
struct PackedRows {
  int64_t rows = 0;
  const LengthGroup* groups = nullptr;
  int64_t num_groups = 0;

  // Number of sequences: the examples of all groups.
  int64_t sequences() const {
    int64_t n = 0;
    for (int64_t i = 0; i < num_groups; ++i) n += groups[i].examples;
    return n;
  }
};

// The groups of `count` sequences packed in the order given, with lengths
// lengths[0, count) (each >= 1): one group per run of equal consecutive
// lengths. Sort the sequences by length first to get the fewest groups.
inline std::vector<LengthGroup> length_groups(const int64_t* lengths, int64_t count) {
  std::vector<LengthGroup> groups;
  int64_t row = 0;
  for (int64_t s = 0; s < count; ++s) {
    if (groups.empty() || groups.back().len != lengths[s]) {
      groups.push_back(LengthGroup{lengths[s], 0, row});
    }
    ++groups.back().examples;
    row += lengths[s];
  }
  return groups;
}

}  // namespace hybrec::nn
