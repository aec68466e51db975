#include "trainer/data/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"
#include "trainer/data/dataset_checks.h"

namespace hybrec::trainer {

namespace {

template <typename T>
void permute(std::vector<T>& values, const std::vector<int64_t>& order) {
  std::vector<T> sorted(values.size());
  for (size_t i = 0; i < order.size(); ++i) sorted[i] = values[static_cast<size_t>(order[i])];
  values.swap(sorted);
}

void check_length(size_t got, size_t want, const char* name, const char* of,
                  const std::string& prefix) {
  HYBREC_CHECK(got == want, prefix, name, " has ", got, " rows, expected ", want, " (", of, ")");
}

// Fills the optional per-item arrays an importer may leave empty, so every
// file has them at full length.
void fill_defaults(Dataset& d) {
  const size_t items = static_cast<size_t>(std::max<int64_t>(d.num_items, 0));
  if (d.item_cold.empty()) d.item_cold.assign(items, 0);
  if (d.item_text.empty()) d.item_text.assign(items, "");
}

// Stable sort by (user, timestamp): ties keep their current (file) order.
void sort_interactions(Dataset& d) {
  const std::string prefix = "dataset '" + d.name + "': ";
  const size_t n = d.user.size();
  check_length(d.item.size(), n, "/interactions/item", "the length of /interactions/user", prefix);
  check_length(d.rating.size(), n, "/interactions/rating", "the length of /interactions/user",
               prefix);
  check_length(d.timestamp.size(), n, "/interactions/timestamp", "the length of /interactions/user",
               prefix);
  if (!d.split.empty()) {
    check_length(d.split.size(), n, "/interactions/split", "the length of /interactions/user",
                 prefix);
  }
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    if (d.user[a] != d.user[b]) return d.user[a] < d.user[b];
    return d.timestamp[a] < d.timestamp[b];
  });
  if (std::is_sorted(order.begin(), order.end())) return;
  permute(d.user, order);
  permute(d.item, order);
  permute(d.rating, order);
  permute(d.timestamp, order);
  if (!d.split.empty()) permute(d.split, order);
}

}  // namespace

namespace detail {

// A text embedding table [rows, dim] (dim 0: absent): sized, named, finite.
static void check_text_emb(const std::vector<float>& emb, int64_t rows, int64_t dim,
                    const std::string& encoder, const char* name, const char* rows_name,
                    const std::string& prefix) {
  if (dim == 0) {
    HYBREC_CHECK(emb.empty(), prefix, name, " has ", emb.size(), " values but text_dim is 0");
    return;
  }
  HYBREC_CHECK(dim > 0, prefix, name, ": dim ", dim, " is negative");
  HYBREC_CHECK(static_cast<int64_t>(emb.size()) == rows * dim, prefix, name, " has ", emb.size(),
               " values, expected ", rows_name, " ", rows, " x text_dim ", dim);
  HYBREC_CHECK(!encoder.empty(), prefix, name, " has no encoder name");
  for (size_t i = 0; i < emb.size(); ++i) {
    HYBREC_CHECK(std::isfinite(emb[i]), prefix, "text embedding value ", emb[i],
                 " is not finite in ", name, " at row ", i / static_cast<size_t>(dim), " column ",
                 i % static_cast<size_t>(dim));
  }
}

void check_dataset(const Dataset& d, bool require_splits, const std::string& prefix) {
  HYBREC_CHECK(d.num_users >= 0, prefix, "num_users ", d.num_users, " is negative");
  HYBREC_CHECK(d.num_items >= 0, prefix, "num_items ", d.num_items, " is negative");
  const size_t n = d.user.size();
  const char* of_user = "the length of /interactions/user";
  check_length(d.item.size(), n, "/interactions/item", of_user, prefix);
  check_length(d.rating.size(), n, "/interactions/rating", of_user, prefix);
  check_length(d.timestamp.size(), n, "/interactions/timestamp", of_user, prefix);
  if (require_splits || !d.split.empty()) {
    check_length(d.split.size(), n, "/interactions/split", of_user, prefix);
  }
  const size_t items = static_cast<size_t>(d.num_items);
  check_length(d.item_cold.size(), items, "/items/cold", "num_items", prefix);
  check_length(d.item_text.size(), items, "/items/text", "num_items", prefix);
  if (!d.user_text.empty()) {
    check_length(d.user_text.size(), static_cast<size_t>(d.num_users), "/users/text", "num_users",
                 prefix);
  }
  const size_t pairs = d.pair_text.size();
  check_length(d.pair_text_user.size(), pairs, "/pair_text/user", "the length of /pair_text/text",
               prefix);
  check_length(d.pair_text_item.size(), pairs, "/pair_text/item", "the length of /pair_text/text",
               prefix);
  for (size_t r = 0; r < pairs; ++r) {
    HYBREC_CHECK(d.pair_text_user[r] >= 0 && d.pair_text_user[r] < d.num_users, prefix, "user id ",
                 d.pair_text_user[r], " out of range [0, ", d.num_users,
                 ") in /pair_text/user at row ", r);
    HYBREC_CHECK(d.pair_text_item[r] >= 0 && d.pair_text_item[r] < d.num_items, prefix, "item id ",
                 d.pair_text_item[r], " out of range [0, ", d.num_items,
                 ") in /pair_text/item at row ", r);
  }
  for (size_t i = 0; i < items; ++i) {
    HYBREC_CHECK(d.item_cold[i] <= 1, prefix, "cold flag ", int{d.item_cold[i]},
                 " is not 0 or 1 in /items/cold at row ", i);
  }
  for (size_t r = 0; r < n; ++r) {
    HYBREC_CHECK(d.user[r] >= 0 && d.user[r] < d.num_users, prefix, "user id ", d.user[r],
                 " out of range [0, ", d.num_users, ") in /interactions/user at row ", r);
    HYBREC_CHECK(d.item[r] >= 0 && d.item[r] < d.num_items, prefix, "item id ", d.item[r],
                 " out of range [0, ", d.num_items, ") in /interactions/item at row ", r);
    HYBREC_CHECK(std::isfinite(d.rating[r]), prefix, "rating ", d.rating[r],
                 " is not finite in /interactions/rating at row ", r);
    if (r > 0) {
      const bool sorted = d.user[r - 1] < d.user[r] ||
                          (d.user[r - 1] == d.user[r] && d.timestamp[r - 1] <= d.timestamp[r]);
      HYBREC_CHECK(sorted, prefix, "interactions not sorted by (user, timestamp) at row ", r, ": (",
                   d.user[r - 1], ", ", d.timestamp[r - 1], ") then (", d.user[r], ", ",
                   d.timestamp[r], ")");
    }
    if (d.split.size() == n) {
      const auto code = static_cast<uint8_t>(d.split[r]);
      HYBREC_CHECK(code <= static_cast<uint8_t>(Split::kCold), prefix, "split code ", int{code},
                   " out of range [0, 3] in /interactions/split at row ", r);
      const bool cold_item = d.item_cold[static_cast<size_t>(d.item[r])] != 0;
      HYBREC_CHECK(cold_item == (d.split[r] == Split::kCold), prefix, "split code ", int{code},
                   " at row ", r, " disagrees with item ", d.item[r], " being ",
                   cold_item ? "cold" : "warm", " (/items/cold)");
    }
  }
  check_text_emb(d.item_text_emb, d.num_items, d.text_dim, d.text_encoder, "/items/text_emb",
                 "num_items", prefix);
  check_text_emb(d.user_text_emb, d.num_users, d.user_text_dim, d.user_text_encoder,
                 "/users/text_emb", "num_users", prefix);
}

void build_user_offsets(Dataset& d) {
  d.user_offsets.assign(static_cast<size_t>(d.num_users) + 1, 0);
  for (const int64_t u : d.user) ++d.user_offsets[static_cast<size_t>(u) + 1];
  std::partial_sum(d.user_offsets.begin(), d.user_offsets.end(), d.user_offsets.begin());
}

}  // namespace detail

void finalize(Dataset& dataset) {
  fill_defaults(dataset);
  sort_interactions(dataset);
  detail::check_dataset(dataset, /*require_splits=*/false, "dataset '" + dataset.name + "': ");
  detail::build_user_offsets(dataset);
}

void assign_splits(Dataset& d) {
  fill_defaults(d);
  d.split.clear();
  sort_interactions(d);
  const std::string prefix = "dataset '" + d.name + "': ";
  // Checked before indexing item_cold with item ids below.
  detail::check_dataset(d, /*require_splits=*/false, prefix);
  detail::build_user_offsets(d);
  d.split.assign(d.user.size(), Split::kTrain);
  for (int64_t u = 0; u < d.num_users; ++u) {
    const int64_t begin = d.user_offsets[u], end = d.user_offsets[u + 1];
    int64_t warm = 0;
    for (int64_t r = begin; r < end; ++r) {
      if (d.item_cold[d.item[r]] != 0) {
        d.split[r] = Split::kCold;
      } else {
        ++warm;
      }
    }
    // Walk back from the newest event: the last warm one is the test
    // event, the one before it the validation event.
    int64_t seen = 0;
    for (int64_t r = end - 1; r >= begin && seen < 2; --r) {
      if (d.split[r] == Split::kCold) continue;
      if (seen == 0 && warm >= 2) d.split[r] = Split::kTest;
      if (seen == 1 && warm >= 3) d.split[r] = Split::kValid;
      ++seen;
    }
  }
}

}  // namespace hybrec::trainer
