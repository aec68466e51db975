// Prequential evaluation of an online run: each streamed event's item is
// ranked among all known items for its user by the model as it stands
// BEFORE it trains on the event (test, then train), the user's earlier
// items excluded. The online-learning benchmark compares its hit rate for
// an online model and for the same model frozen.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/eval/model_scorer.h"
#include "trainer/loop/batch_builder.h"
#include "trainer/loop/stream_state.h"
#include "trainer/model/hybrid_model.h"
#include "trainer/model/neighbor_rows.h"

namespace hybrec::trainer {

// How many of `examples` rank their target within the top k among items
// [0, state.item_rows()) (ties count against the target); seen[i] are
// example i's excluded items. `fetch` reads id rows without storing any
// (read-only pulls); unused without id embeddings. `neighbors` keeps the
// text-neighbour lists from one micro-batch to the next (may be null).
int64_t prequential_hits(const HybridModel& model, const float* params, const RowFetcher& fetch,
                         const StreamState& state, const std::vector<ExampleSpec>& examples,
                         const std::vector<std::vector<int64_t>>& seen, int64_t k,
                         TextNeighborCache* neighbors = nullptr);

}  // namespace hybrec::trainer
