#include "serving/candidates.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <iostream>
#include <limits>

#include "hybrec/kernels/bilinear.h"
#include "hybrec/kernels/error.h"

namespace hybrec::serving {

namespace {

namespace k = hybrec::kernels;

constexpr int64_t kRecallK = 10;
constexpr int64_t kMinCandidates = 100;
constexpr int64_t kCandidatesPerResult = 4;

// y = x B for each row of x [n, D]: the query of the index's inner product.
std::vector<float> index_queries(const ModelSnapshot& s, const float* x, int64_t n) {
  const int64_t D = s.score_dim;
  std::vector<float> y(static_cast<std::size_t>(n * D), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    float* out = y.data() + i * D;
    for (int64_t a = 0; a < D; ++a) {
      const float xa = x[i * D + a];
      if (xa == 0.0f) continue;  // the text half is zero without a query
      const float* row = s.scoring_form.data() + a * D;
#pragma omp simd
      for (int64_t b = 0; b < D; ++b) out[b] += xa * row[b];
    }
  }
  return y;
}

struct Scored {
  float score;
  int64_t item;
};

// Re-scores the valid, not excluded ids of one query's search result;
// returns how many ids the search found (valid ones).
int64_t rescore(const ModelSnapshot& s, const float* y, const int64_t* ids, int64_t count,
                const std::vector<int64_t>& excluded, std::vector<Scored>& out) {
  const int64_t D = s.score_dim;
  out.clear();
  int64_t found = 0;
  for (int64_t c = 0; c < count; ++c) {
    const int64_t item = ids[c];
    if (item < 0) continue;
    ++found;
    if (std::binary_search(excluded.begin(), excluded.end(), item)) continue;
    const float* x = s.scoring_items.data() + item * D;
    double score = 0;
#pragma omp simd reduction(+ : score)
    for (int64_t b = 0; b < D; ++b) score += static_cast<double>(y[b]) * x[b];
    const float f = static_cast<float>(score);
    // As in all_items_topk: NaN and -inf are never candidates.
    if (f > -std::numeric_limits<float>::infinity()) out.push_back({f, item});
  }
  return found;
}

}  // namespace

IndexKind parse_index_kind(const std::string& name) {
  if (name == "exact") return IndexKind::kExact;
  if (name == "faiss-ivf") return IndexKind::kFaissIvf;
  HYBREC_THROW("unknown index \"", name, "\" (exact or faiss-ivf)");
}

std::string index_kind_name(IndexKind kind) {
  return kind == IndexKind::kFaissIvf ? "faiss-ivf" : "exact";
}

int64_t default_nlist(int64_t num_items) {
  const auto sqrt_rule = static_cast<int64_t>(std::lround(4.0 * std::sqrt(num_items)));
  return std::max<int64_t>(1, std::min(sqrt_rule, num_items / 39));
}

void build_candidate_index(ModelSnapshot& s, const IndexOptions& options,
                           const std::vector<int64_t>& recall_users,
                           const std::vector<float>& users) {
  HYBREC_CHECK(options.kind == IndexKind::kFaissIvf, "build_candidate_index: kind ",
               index_kind_name(options.kind), " has no index");
  const int64_t m = static_cast<int64_t>(recall_users.size()), D = s.score_dim;
  HYBREC_CHECK(static_cast<int64_t>(users.size()) == m * D, "build_candidate_index: ", users.size(),
               " floats for ", m, " users of dim ", D);
  HYBREC_CHECK(options.nprobe >= 1, "index nprobe ", options.nprobe, " must be >= 1");
  const auto start = std::chrono::steady_clock::now();
  ann::IvfOptions ivf;
  ivf.nlist = options.nlist > 0 ? options.nlist : default_nlist(s.num_items);
  s.index = std::make_shared<const ann::IvfIndex>(s.scoring_items.data(), s.num_items, D, ivf);
  s.nprobe = std::min(options.nprobe, ivf.nlist);

  IndexReport& r = s.index_report;
  r.kind = index_kind_name(options.kind);
  r.nlist = ivf.nlist;
  r.nprobe = s.nprobe;
  r.recall_k = std::min(kRecallK, s.num_items);
  r.recall_users = recall_users;
  const std::size_t size = static_cast<std::size_t>(m * r.recall_k);
  std::vector<int64_t> exact(size), approx(size);
  std::vector<float> scores(size);
  exact_topk(s, users.data(), m, r.recall_k, nullptr, nullptr, exact.data(), scores.data());
  index_topk(s, users.data(), m, r.recall_k, nullptr, nullptr, approx.data(), scores.data());
  int64_t hits = 0;
  for (int64_t i = 0; i < m; ++i) {
    const auto first = exact.begin() + i * r.recall_k, last = first + r.recall_k;
    for (int64_t c = 0; c < r.recall_k; ++c) {
      hits += std::find(first, last, approx[i * r.recall_k + c]) != last ? 1 : 0;
    }
  }
  r.recall = m > 0 ? static_cast<double>(hits) / static_cast<double>(size) : 1.0;
  r.build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cerr << "hybrec serve: " << describe_index(r, s.num_items) << "\n";
}

std::string describe_index(const IndexReport& r, int64_t num_items) {
  if (r.recall_k == 0) return r.kind + " scoring of " + std::to_string(num_items) + " items";
  char recall[32], seconds[32];
  std::snprintf(recall, sizeof recall, "%.4f", r.recall);
  std::snprintf(seconds, sizeof seconds, "%.2f", r.build_s);
  return r.kind + " index over " + std::to_string(num_items) + " items (nlist " +
         std::to_string(r.nlist) + ", nprobe " + std::to_string(r.nprobe) + "): recall@" +
         std::to_string(r.recall_k) + " " + recall + " against exact scoring on " +
         std::to_string(r.recall_users.size()) + " users, built in " + seconds + " s";
}

void snapshot_topk(const ModelSnapshot& s, const float* users, int64_t num_users, int64_t k,
                   const int64_t* exclude_offsets, const int64_t* exclude_items, int64_t* top_items,
                   float* top_scores) {
  if (s.index != nullptr) {
    index_topk(s, users, num_users, k, exclude_offsets, exclude_items, top_items, top_scores);
  } else {
    exact_topk(s, users, num_users, k, exclude_offsets, exclude_items, top_items, top_scores);
  }
}

void exact_topk(const ModelSnapshot& s, const float* users, int64_t num_users, int64_t k,
                const int64_t* exclude_offsets, const int64_t* exclude_items, int64_t* top_items,
                float* top_scores) {
  k::AllItemsTopKParams<int64_t> p;
  p.num_users = num_users;
  p.num_items = s.num_items;
  p.dim = s.score_dim;
  p.k = k;
  p.users = users;
  p.items = s.scoring_items.data();
  p.w = s.scoring_form.data();
  p.exclude_offsets = exclude_offsets;
  p.exclude_items = exclude_items;
  p.top_items = top_items;
  p.top_scores = top_scores;
  k::all_items_topk(k::Device::cpu(), p);
}

void index_topk(const ModelSnapshot& s, const float* users, int64_t num_users, int64_t k,
                const int64_t* exclude_offsets, const int64_t* exclude_items, int64_t* top_items,
                float* top_scores) {
  HYBREC_CHECK(s.index != nullptr, "index_topk: the snapshot has no index");
  HYBREC_CHECK(k >= 1 && k <= s.num_items, "index_topk: k ", k, " must be in [1, ", s.num_items,
               "]");
  if (num_users == 0) return;
  const int64_t n = s.num_items, D = s.score_dim, nlist = s.index->nlist();
  const std::vector<float> y = index_queries(s, users, num_users);
  const int64_t first_count = std::min(n, std::max(kCandidatesPerResult * k, kMinCandidates));
  std::vector<int64_t> ids(static_cast<std::size_t>(num_users * first_count));
  s.index->search(y.data(), num_users, first_count, s.nprobe, ids.data());

  // Requests are independent after the batched search; a retry's search
  // runs inside this loop on one thread (FAISS's own loop is not nested).
  // An exception may not leave an OpenMP region: the first is kept and
  // rethrown after it.
  std::exception_ptr error;
#pragma omp parallel if (num_users > 1)
  {
    std::vector<Scored> scored;
    std::vector<int64_t> excluded, more;
#pragma omp for schedule(dynamic, 4)
    for (int64_t u = 0; u < num_users; ++u) try {
        excluded.clear();
        if (exclude_offsets != nullptr) {
          excluded.assign(exclude_items + exclude_offsets[u],
                          exclude_items + exclude_offsets[u + 1]);
          std::sort(excluded.begin(), excluded.end());
        }
        const float* yu = y.data() + u * D;
        const int64_t* result = ids.data() + u * first_count;
        int64_t count = first_count, nprobe = s.nprobe;
        for (;;) {
          const int64_t found = rescore(s, yu, result, count, excluded, scored);
          if (static_cast<int64_t>(scored.size()) >= k) break;
          if (found == count && count < n) {
            count = std::min(n, 2 * count);  // the lists scanned may hold more
          } else if (nprobe < nlist) {
            nprobe = std::min(nlist, 2 * nprobe);  // they hold no more: scan more lists
          } else {
            break;  // every item seen
          }
          more.resize(static_cast<std::size_t>(count));
          s.index->search(yu, 1, count, nprobe, more.data());
          result = more.data();
        }
        const int64_t kept = std::min<int64_t>(k, static_cast<int64_t>(scored.size()));
        std::partial_sort(scored.begin(), scored.begin() + kept, scored.end(),
                          [](const Scored& a, const Scored& b) {
                            return a.score > b.score || (a.score == b.score && a.item < b.item);
                          });
        for (int64_t r = 0; r < k; ++r) {
          top_items[u * k + r] = r < kept ? scored[r].item : -1;
          top_scores[u * k + r] =
              r < kept ? scored[r].score : -std::numeric_limits<float>::infinity();
        }
      } catch (...) {
#pragma omp critical(hybrec_index_topk_error)
        if (error == nullptr) error = std::current_exception();
      }
  }
  if (error != nullptr) std::rethrow_exception(error);
}

}  // namespace hybrec::serving
