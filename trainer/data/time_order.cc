#include "trainer/data/time_order.h"

#include <algorithm>
#include <cmath>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

int64_t time_quantile(const Dataset& data, double q) {
  HYBREC_CHECK(q >= 0.0 && q <= 1.0, "time quantile ", q, " out of range [0, 1]");
  HYBREC_CHECK(!data.timestamp.empty(), "dataset '", data.name, "' has no events");
  std::vector<int64_t> sorted = data.timestamp;
  std::sort(sorted.begin(), sorted.end());
  const auto n = static_cast<double>(sorted.size());
  const auto at = static_cast<std::size_t>(std::floor(q * n));
  return at >= sorted.size() ? sorted.back() + 1 : sorted[at];
}

std::vector<int64_t> events_in_time_order(const Dataset& data, int64_t from) {
  std::vector<int64_t> order;
  for (int64_t i = 0; i < data.num_interactions(); ++i) {
    if (data.timestamp[i] >= from) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return data.timestamp[a] < data.timestamp[b]; });
  return order;
}

}  // namespace hybrec::trainer
