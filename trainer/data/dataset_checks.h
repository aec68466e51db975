// Checks shared by finalize(), write_dataset() and read_dataset(): the
// invariants of the schema, so a file and an in-memory dataset are held to
// the same rules. Internal to the data layer.
#pragma once

#include <string>

#include "trainer/data/dataset.h"

namespace hybrec::trainer::detail {

// Throws hybrec::Error "<prefix><first violation>", e.g. "dataset file
// x.h5: item id 90211 out of range [0, 90000) in /interactions/item at row
// 17". Checks array lengths, id ranges, finite ratings, the sort order
// (user, then timestamp), item_cold values, text_emb shape and
// finiteness, and, when `require_splits` (else `split` may also be empty),
// split codes and their agreement with item_cold (an event is kCold
// exactly when its item is cold).
void check_dataset(const Dataset& dataset, bool require_splits, const std::string& prefix);

// Rebuilds user_offsets from the (sorted, in-range) user column.
void build_user_offsets(Dataset& dataset);

}  // namespace hybrec::trainer::detail
