#include "trainer/model/neighbor_rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "hybrec/kernels/bilinear.h"
#include "hybrec/kernels/device.h"
#include "hybrec/kernels/error.h"
#include "trainer/model/id_tables.h"

namespace hybrec::trainer {

namespace {

namespace k = hybrec::kernels;

// Unit-length copy of one text vector into out; false (out untouched) when
// the vector is zero.
bool unit_row(const float* text, int64_t text_dim, float* out) {
  double ss = 0.0;
  for (int64_t t = 0; t < text_dim; ++t) ss += static_cast<double>(text[t]) * text[t];
  if (ss == 0.0) return false;
  const auto inv = static_cast<float>(1.0 / std::sqrt(ss));
  for (int64_t t = 0; t < text_dim; ++t) out[t] = text[t] * inv;
  return true;
}

}  // namespace

std::vector<int64_t> nearest_by_text(const float* text, int64_t text_dim, int64_t n,
                                     const std::vector<int64_t>& queries,
                                     const std::vector<uint8_t>& candidate, int64_t k_neighbors) {
  HYBREC_CHECK(k_neighbors >= 1, "text neighbours k = ", k_neighbors, " must be at least 1");
  HYBREC_CHECK(static_cast<int64_t>(candidate.size()) == n, "candidate flags: ", candidate.size(),
               " for ", n, " items");
  const auto T = static_cast<std::size_t>(text_dim);
  std::vector<float> unit(T), query_text, cand_text;
  std::vector<int64_t> cands, out(queries.size() * static_cast<std::size_t>(k_neighbors), -1);
  for (int64_t j = 0; j < n; ++j) {
    if (candidate[j] != 0 && unit_row(text + j * text_dim, text_dim, unit.data())) {
      cands.push_back(j);
      cand_text.insert(cand_text.end(), unit.begin(), unit.end());
    }
  }
  // Queries without text keep -1 everywhere (a zero vector scores 0 with
  // every candidate: no neighbour is nearer than another).
  std::vector<int64_t> with_text;
  for (std::size_t q = 0; q < queries.size(); ++q) {
    if (unit_row(text + queries[q] * text_dim, text_dim, unit.data())) {
      with_text.push_back(static_cast<int64_t>(q));
      query_text.insert(query_text.end(), unit.begin(), unit.end());
    }
  }
  if (cands.empty() || with_text.empty()) return out;
  // Cosine top-k among the candidates: the kernels' all-items top-k with
  // W = I (its ties rank the lower index, so the result does not depend
  // on threads).
  const int64_t kk = std::min<int64_t>(k_neighbors, static_cast<int64_t>(cands.size()));
  const auto nq = static_cast<int64_t>(with_text.size());
  std::vector<float> identity(T * T, 0.0f);
  for (std::size_t t = 0; t < T; ++t) identity[t * T + t] = 1.0f;
  std::vector<int64_t> top(static_cast<std::size_t>(nq * kk));
  std::vector<float> top_scores(top.size());
  k::AllItemsTopKParams<int64_t> p;
  p.num_users = nq;
  p.num_items = static_cast<int64_t>(cands.size());
  p.dim = text_dim;
  p.k = kk;
  p.users = query_text.data();
  p.items = cand_text.data();
  p.w = identity.data();
  p.top_items = top.data();
  p.top_scores = top_scores.data();
  k::all_items_topk(k::Device::cpu(), p);
  for (int64_t q = 0; q < nq; ++q) {
    for (int64_t m = 0; m < kk; ++m) {
      out[static_cast<std::size_t>(with_text[q] * k_neighbors + m)] = cands[top[q * kk + m]];
    }
  }
  return out;
}

void mean_of_rows(const float* rows, int64_t dim, const int64_t* ids, int64_t count, float* out) {
  std::fill(out, out + dim, 0.0f);
  int64_t used = 0;
  for (int64_t m = 0; m < count; ++m) {
    if (ids[m] < 0) continue;
    const float* src = rows + ids[m] * dim;
    for (int64_t c = 0; c < dim; ++c) out[c] += src[c];
    ++used;
  }
  if (used == 0) return;
  const float inv = 1.0f / static_cast<float>(used);
  for (int64_t c = 0; c < dim; ++c) out[c] *= inv;
}

namespace {

// The untrained items (queries) and the trained ones (candidates).
void split_by_training(const std::vector<uint8_t>& unseen, std::vector<int64_t>* untrained,
                       std::vector<uint8_t>* trained) {
  untrained->clear();
  trained->assign(unseen.size(), 0);
  for (std::size_t j = 0; j < unseen.size(); ++j) {
    (*trained)[j] = unseen[j] == 0;
    if (unseen[j] != 0) untrained->push_back(static_cast<int64_t>(j));
  }
}

void fill_from_lists(const std::vector<int64_t>& untrained, const std::vector<int64_t>& lists,
                     int64_t k, int64_t dim, float* rows) {
  for (std::size_t q = 0; q < untrained.size(); ++q) {
    mean_of_rows(rows, dim, lists.data() + q * static_cast<std::size_t>(k), k,
                 rows + untrained[q] * dim);
  }
}

// A hash of the text matrix, two floats at a time (a byte-wise FNV took
// most of a reused fill at 100k items): a changed vector changes it.
uint64_t text_hash(const float* text, int64_t count) {
  uint64_t h = 1469598103934665603ull;
  int64_t i = 0;
  for (; i + 1 < count; i += 2) {
    uint64_t word;
    std::memcpy(&word, text + i, sizeof word);
    h = (h ^ word) * 1099511628211ull;
    h ^= h >> 29;
  }
  if (i < count) {
    uint32_t last;
    std::memcpy(&last, text + i, sizeof last);
    h = (h ^ last) * 1099511628211ull;
  }
  return h;
}

}  // namespace

void fill_untrained_rows_from_text_neighbors(const float* text, int64_t text_dim, int64_t n,
                                             int64_t dim, const std::vector<uint8_t>& unseen,
                                             int64_t k_neighbors, float* rows) {
  HYBREC_CHECK(static_cast<int64_t>(unseen.size()) == n, "unseen flags: ", unseen.size(), " for ",
               n, " items");
  if (text == nullptr || text_dim <= 0) return;
  std::vector<int64_t> untrained;
  std::vector<uint8_t> trained;
  split_by_training(unseen, &untrained, &trained);
  fill_from_lists(untrained, nearest_by_text(text, text_dim, n, untrained, trained, k_neighbors),
                  k_neighbors, dim, rows);
}

void TextNeighborCache::fill(const float* text, int64_t text_dim, int64_t n, int64_t dim,
                             const std::vector<uint8_t>& unseen, int64_t k, float* rows) {
  HYBREC_CHECK(static_cast<int64_t>(unseen.size()) == n, "unseen flags: ", unseen.size(), " for ",
               n, " items");
  if (text == nullptr || text_dim <= 0) return;
  const uint64_t hash = text_hash(text, n * text_dim);
  std::lock_guard<std::mutex> lock(mutex_);
  if (n != n_ || text_dim != text_dim_ || k != k_ || hash != text_hash_ || unseen != unseen_) {
    std::vector<uint8_t> trained;
    split_by_training(unseen, &untrained_, &trained);
    lists_ = nearest_by_text(text, text_dim, n, untrained_, trained, k);
    n_ = n;
    text_dim_ = text_dim;
    k_ = k;
    text_hash_ = hash;
    unseen_ = unseen;
    ++searches_;
  }
  fill_from_lists(untrained_, lists_, k, dim, rows);
}

int64_t TextNeighborCache::searches() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return searches_;
}

std::vector<uint8_t> prepare_item_rows_for_ranking(const ModelConfig& config, const float* text,
                                                   int64_t n, float* rows,
                                                   TextNeighborCache* cache) {
  std::vector<uint8_t> unseen = untrained_rows(rows, n, config.dim);
  if (uses_text_neighbors(config) && n > 0) {
    if (cache != nullptr) {
      cache->fill(text, config.text_dim, n, config.dim, unseen, config.unseen_item_neighbors, rows);
    } else {
      fill_untrained_rows_from_text_neighbors(text, config.text_dim, n, config.dim, unseen,
                                              config.unseen_item_neighbors, rows);
    }
  }
  return unseen;
}

}  // namespace hybrec::trainer
