#include "trainer/eval/beyond_accuracy.h"

#include <algorithm>
#include <numeric>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

std::vector<double> popularity_percentiles(const std::vector<int64_t>& count) {
  const auto n = static_cast<int64_t>(count.size());
  std::vector<double> pct(count.size(), 1.0);  // a catalogue of one item: its most popular
  if (n < 2) return pct;
  std::vector<int64_t> order(count.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return count[a] < count[b]; });
  for (int64_t first = 0; first < n;) {
    int64_t last = first + 1;  // [first, last): one count
    while (last < n && count[order[last]] == count[order[first]]) ++last;
    const double mean_position = 0.5 * static_cast<double>(first + last - 1);
    for (int64_t i = first; i < last; ++i)
      pct[order[i]] = mean_position / static_cast<double>(n - 1);
    first = last;
  }
  return pct;
}

ItemProfile make_item_profile(const std::vector<int64_t>& train_count,
                              const std::vector<uint8_t>& cold, int64_t text_dim,
                              const std::vector<float>& text_emb) {
  const auto n = static_cast<int64_t>(cold.size());
  HYBREC_CHECK(static_cast<int64_t>(train_count.size()) == n, "item profile: ", train_count.size(),
               " training counts for ", n, " items");
  HYBREC_CHECK(text_dim == 0 || static_cast<int64_t>(text_emb.size()) == n * text_dim,
               "item profile: ", text_emb.size(), " text vector values for ", n, " items of dim ",
               text_dim);
  ItemProfile p;
  p.cold = cold;
  p.pop_pct = popularity_percentiles(train_count);
  const double total = std::accumulate(train_count.begin(), train_count.end(), 0.0);
  p.self_info.resize(cold.size());
  for (int64_t j = 0; j < n; ++j) {
    p.self_info[j] =
        -std::log2((static_cast<double>(train_count[j]) + 1.0) / (total + static_cast<double>(n)));
  }
  p.text_dim = text_dim;
  p.unit_text = text_emb;
  for (int64_t j = 0; j < n && text_dim > 0; ++j) {
    float* row = p.unit_text.data() + j * text_dim;
    double norm2 = 0;
    for (int64_t d = 0; d < text_dim; ++d) norm2 += static_cast<double>(row[d]) * row[d];
    if (norm2 == 0) continue;
    const auto scale = static_cast<float>(1.0 / std::sqrt(norm2));
    for (int64_t d = 0; d < text_dim; ++d) row[d] *= scale;
  }
  return p;
}

ItemProfile make_item_profile(const Dataset& data) {
  std::vector<int64_t> count(static_cast<std::size_t>(data.num_items), 0);
  for (std::size_t i = 0; i < data.item.size(); ++i) {
    if (data.split[i] == Split::kTrain) ++count[static_cast<std::size_t>(data.item[i])];
  }
  return make_item_profile(count, data.item_cold, data.text_dim, data.item_text_emb);
}

std::vector<int64_t> TopK::take() {
  std::vector<int64_t> ids(heap_.size());
  for (auto i = static_cast<int64_t>(ids.size()) - 1; i >= 0; --i) {
    ids[i] = heap_.top().id;
    heap_.pop();
  }
  return ids;
}

ListSums list_sums(const std::vector<int64_t>& list, const ItemProfile& items) {
  ListSums s;
  for (int64_t j : list) {
    s.slots += 1;
    s.pop_pct += items.pop_pct[j];
    s.new_items += items.cold[j] ? 1.0 : 0.0;
    s.novelty += items.self_info[j];
  }
  const auto n = static_cast<int64_t>(list.size());
  if (items.text_dim > 0 && n >= 2) {
    const int64_t T = items.text_dim;
    double distance = 0;
    for (int64_t a = 0; a < n; ++a) {
      const float* u = items.unit_text.data() + list[a] * T;
      for (int64_t b = a + 1; b < n; ++b) {
        const float* v = items.unit_text.data() + list[b] * T;
        double cos = 0;
        for (int64_t d = 0; d < T; ++d) cos += static_cast<double>(u[d]) * v[d];
        distance += 1.0 - cos;
      }
    }
    s.ild = distance / (0.5 * static_cast<double>(n * (n - 1)));
    s.ild_lists = 1;
  }
  return s;
}

void add(ListSums& into, const ListSums& list) {
  into.slots += list.slots;
  into.pop_pct += list.pop_pct;
  into.new_items += list.new_items;
  into.novelty += list.novelty;
  into.ild += list.ild;
  into.ild_lists += list.ild_lists;
}

double gini(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  const auto n = static_cast<double>(x.size());
  double weighted = 0, total = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    weighted += (2.0 * static_cast<double>(i + 1) - n - 1.0) * x[i];
    total += x[i];
  }
  return total > 0 ? weighted / (n * total) : 0.0;
}

BeyondAccuracy finish_beyond_accuracy(const ListSums& reduced, const std::vector<double>& exposure,
                                      const ItemProfile& items, bool cold_only) {
  HYBREC_CHECK(static_cast<int64_t>(exposure.size()) == items.num_items(), "exposure of ",
               exposure.size(), " items for a catalogue of ", items.num_items());
  std::vector<double> candidates;
  double shown = 0;
  for (int64_t j = 0; j < items.num_items(); ++j) {
    if (cold_only && !items.cold[j]) continue;
    candidates.push_back(exposure[j]);
    if (exposure[j] > 0) ++shown;
  }
  BeyondAccuracy m;
  if (!candidates.empty()) m.coverage = shown / static_cast<double>(candidates.size());
  m.gini = gini(std::move(candidates));
  if (reduced.slots > 0) {
    m.pop_pct = reduced.pop_pct / reduced.slots;
    m.new_share = reduced.new_items / reduced.slots;
    m.novelty = reduced.novelty / reduced.slots;
  }
  if (reduced.ild_lists > 0) m.ild = reduced.ild / reduced.ild_lists;
  return m;
}

}  // namespace hybrec::trainer
