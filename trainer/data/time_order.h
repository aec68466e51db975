// A dataset's events in time order, and the time that splits them at a
// quantile: `hybrec publish` replays the events after a quantile as a live
// stream, and a run with data.before_time_quantile trains offline on the
// events before it (the online-learning benchmark's split).
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/data/dataset.h"

namespace hybrec::trainer {

// The smallest timestamp t such that at least a fraction q of the events
// have timestamps below it, i.e. the sorted timestamps' element
// floor(q * n); q = 0 gives the first timestamp (every event is at or
// after it), q = 1 one past the last (none is). q in [0, 1].
int64_t time_quantile(const Dataset& data, double q);

// Indices of the events with timestamp >= from, in time order (events of
// equal time in the dataset's order: by user, then as imported).
std::vector<int64_t> events_in_time_order(const Dataset& data, int64_t from);

}  // namespace hybrec::trainer
