#include "trainer/data/builder.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "hybrec/kernels/error.h"
#include "trainer/data/rng.h"
#include "trainer/data/text_hash.h"

namespace hybrec::trainer {

std::string below_threshold(double threshold) {
  if (threshold <= 0) return "";
  std::ostringstream text;
  text << ", none rated >= " << threshold;
  return text.str();
}

int64_t IdMap::get_or_add(const std::string& key) {
  const auto [it, added] = ids_.emplace(key, static_cast<int64_t>(keys_.size()));
  if (added) keys_.push_back(key);
  return it->second;
}

int64_t IdMap::find(const std::string& key) const {
  const auto it = ids_.find(key);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<uint8_t> choose_cold_items(const Dataset& dataset, double fraction, uint64_t seed) {
  HYBREC_CHECK(fraction >= 0.0 && fraction < 1.0, "cold fraction ", fraction,
               " out of range [0, 1)");
  std::vector<uint8_t> has_event(static_cast<size_t>(dataset.num_items), 0);
  for (const int64_t item : dataset.item) {
    HYBREC_CHECK(item >= 0 && item < dataset.num_items, "item id ", item, " out of range [0, ",
                 dataset.num_items, ")");
    has_event[static_cast<size_t>(item)] = 1;
  }
  std::vector<int64_t> eligible;
  for (int64_t i = 0; i < dataset.num_items; ++i) {
    if (has_event[static_cast<size_t>(i)]) eligible.push_back(i);
  }
  Rng rng(seed ^ 0xc01dULL);
  rng.shuffle(eligible);
  const auto count =
      static_cast<size_t>(std::llround(fraction * static_cast<double>(eligible.size())));
  std::vector<uint8_t> cold(static_cast<size_t>(dataset.num_items), 0);
  for (size_t k = 0; k < count; ++k) cold[static_cast<size_t>(eligible[k])] = 1;
  return cold;
}

void complete_dataset(Dataset& dataset, double cold_fraction, uint64_t seed, int64_t text_dim) {
  HYBREC_CHECK(text_dim >= 0, "text dim ", text_dim, " is negative");
  if (dataset.item_text.empty())
    dataset.item_text.assign(static_cast<size_t>(dataset.num_items), "");
  dataset.item_cold = choose_cold_items(dataset, cold_fraction, seed);
  assign_splits(dataset);
  encode_item_text(dataset, text_dim);
  finalize(dataset);
}

void finish_import(Dataset& d, int64_t num_users, int64_t num_items,
                   std::vector<std::pair<int64_t, std::string>> texts,
                   const ImportOptions& options) {
  d.num_users = num_users;
  d.num_items = num_items;
  d.item_text.assign(static_cast<size_t>(num_items), "");
  for (auto& [item, text] : texts) d.item_text[static_cast<size_t>(item)] = std::move(text);
  complete_dataset(d, options.cold_fraction, options.seed, options.text_dim);
}

std::string describe(const Dataset& d) {
  std::array<int64_t, 4> per_split{};
  for (const Split s : d.split) ++per_split[static_cast<size_t>(s)];
  int64_t cold_items = 0, with_text = 0;
  for (const uint8_t c : d.item_cold) cold_items += c;
  for (const std::string& t : d.item_text) with_text += t.empty() ? 0 : 1;
  std::ostringstream out;
  out << "name          " << d.name << "\n"
      << "users         " << d.num_users << "\n"
      << "items         " << d.num_items << " (" << cold_items << " cold, " << with_text
      << " with text)\n"
      << "interactions  " << d.num_interactions() << "\n"
      << "  train       " << per_split[0] << "\n"
      << "  valid       " << per_split[1] << "\n"
      << "  test        " << per_split[2] << "\n"
      << "  cold        " << per_split[3] << "\n"
      << "user text     " << (d.user_text.empty() ? "none" : "yes") << "\n"
      << "pair text     ";
  if (d.pair_text.empty()) {
    out << "none\n";
  } else {
    std::set<std::pair<int64_t, int64_t>> pairs;
    for (size_t r = 0; r < d.pair_text.size(); ++r) {
      pairs.emplace(d.pair_text_user[r], d.pair_text_item[r]);
    }
    // How many events of each split have text of their own: what an
    // evaluation of explanations on that split can score.
    std::array<int64_t, 4> with_text{};
    for (size_t r = 0; r < d.split.size(); ++r) {
      if (pairs.count({d.user[r], d.item[r]}) != 0) ++with_text[static_cast<size_t>(d.split[r])];
    }
    out << d.pair_text.size() << " rows on " << pairs.size() << " (user, item) pairs; events "
        << "with pair text: train " << with_text[0] << ", valid " << with_text[1] << ", test "
        << with_text[2] << ", cold " << with_text[3] << "\n";
  }
  out << "text emb      ";
  if (d.text_dim > 0) {
    out << d.text_dim << " dims, encoder " << d.text_encoder << "\n";
  } else {
    out << "none\n";
  }
  return out.str();
}

}  // namespace hybrec::trainer
