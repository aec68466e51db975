// CPU backend of the bilinear ops: BLAS for every GEMM, OpenMP over rows or
// user blocks, contiguous inner loops the compiler vectorises.
#include "cpu/bilinear.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include "cpu/bilinear_topk_key.h"

namespace hybrec::kernels::cpu {
namespace {

// out[r, :] = scale[r] * in[r, :]; in == out is allowed.
void scale_rows(const float* scale, const float* in, int64_t rows, int64_t dim, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float s = scale[r];
    const float* x = in + r * dim;
    float* y = out + r * dim;
#pragma omp simd
    for (int64_t j = 0; j < dim; ++j) y[j] = s * x[j];
  }
}

// Below this many elements an elementwise op is faster on one thread than
// the cost of waking the others.
constexpr int64_t kParallelBatch = 1 << 16;

std::unique_ptr<float[]> uninitialised_floats(int64_t count) {
  return std::unique_ptr<float[]>(new float[static_cast<std::size_t>(count)]);
}

// ---------------------------------------------------------------------------
// All-items top-k.
//
// Users are processed in groups of up to kUserGroup (their candidate
// buffers are the only per-user state). Inside a group each OpenMP thread
// owns a run of user blocks and walks the item tiles in increasing order;
// per tile and block it runs one single-threaded sgemm (direct dot products
// for blocks of at most kDirectUsers) into a kUserBlock x kItemTile scratch
// (512 KiB: half of this machine's per-core L2, so the scan reads it back
// from L2), then scans each row.
//
// Per user the candidate buffer holds up to `cap` keys; an item is appended
// only when its score beats the current k-th best (`threshold`), and a full
// buffer is cut back to its top k with nth_element, raising the threshold.
// Because one user's items arrive in increasing id order, an item whose
// score only ties the k-th best has a higher id and loses the tie, so the
// strict `score > threshold` test is exact.
constexpr int64_t kUserBlock = 128;
constexpr int64_t kItemTile = 1024;
constexpr int64_t kUserGroup = 1024;
constexpr int64_t kCandidateBytes = int64_t{32} << 20;
constexpr int kScanChunk = 32;  // scores tested together before any branch: one mask word

struct UserCandidates {
  uint64_t* keys;  // [cap]
  int64_t count;
  float threshold;  // score of the current k-th best key, -inf until the buffer first fills
  // The user's exclusion list, sorted, and a cursor into it: items arrive in
  // increasing order, so the cursor only moves forward and each probe is
  // amortised O(1) without the mispredicted branches of a binary search.
  const int64_t* excluded;
  const int64_t* excluded_end;

  bool is_excluded(int64_t item) {
    while (excluded != excluded_end && *excluded < item) ++excluded;
    return excluded != excluded_end && *excluded == item;
  }
};

// Keeps the k best keys (unordered) in keys[0, k) and puts the k-th best at
// keys[k - 1]; returns the new count.
int64_t keep_top(uint64_t* keys, int64_t count, int64_t k) {
  std::nth_element(keys, keys + (k - 1), keys + count, std::greater<uint64_t>());
  return k;
}

// Bit q is set where s[q] > threshold (never for NaN), for q < kScanChunk.
// With AVX2 (HYBREC_CPU_ARCH's default x86-64-v3) this compiles to vector
// compares and per-lane shifts, no branches.
inline uint32_t above_mask(const float* s, float threshold) {
  uint32_t mask = 0;
  for (int q = 0; q < kScanChunk; ++q) mask |= static_cast<uint32_t>(s[q] > threshold) << q;
  return mask;
}

// Appends the candidate if it beats the threshold and is not excluded.
inline void offer(float score, int64_t item, int64_t k, int64_t cap, UserCandidates& c) {
  if (!(score > c.threshold)) return;  // also rejects NaN
  if (c.is_excluded(item)) return;
  c.keys[c.count++] = topk_key(score, item);
  if (c.count == cap) {
    c.count = keep_top(c.keys, c.count, k);
    c.threshold = topk_key_score(c.keys[k - 1]);
  }
}

// Offers the row's scores to the user's candidates. Once the threshold has
// risen almost no score beats it, so the common case is one vector compare
// per chunk and a zero mask; a hit visits only the set bits, without a
// branch per score.
void scan_row(const float* row, int64_t tile_items, int64_t first_item, int64_t k, int64_t cap,
              UserCandidates& c) {
  int64_t j = 0;
  for (; j + kScanChunk <= tile_items; j += kScanChunk) {
    uint32_t mask = above_mask(row + j, c.threshold);
    while (mask != 0) {
      const int q = __builtin_ctz(mask);
      mask &= mask - 1;
      offer(row[j + q], first_item + j + q, k, cap, c);  // re-tests: a cut may raise the threshold
    }
  }
  for (; j < tile_items; ++j) offer(row[j], first_item + j, k, cap, c);
}

template <typename Index>
void write_user_topk(UserCandidates& c, int64_t k, Index* top_items, float* top_scores) {
  const int64_t kept = std::min(c.count, k);
  std::partial_sort(c.keys, c.keys + kept, c.keys + c.count, std::greater<uint64_t>());
  for (int64_t i = 0; i < kept; ++i) {
    top_items[i] = static_cast<Index>(topk_key_item(c.keys[i]));
    top_scores[i] = topk_key_score(c.keys[i]);
  }
  for (int64_t i = kept; i < k; ++i) {
    top_items[i] = Index{-1};
    top_scores[i] = -std::numeric_limits<float>::infinity();
  }
}

// Up to this many users per block, the tile is scored with direct dot
// products instead of one sgemm: OpenBLAS packs the whole item tile on every
// call, and for a serving batch of a few users that copy costs more than the
// products (it was 77% of hybrec serve's CPU time at one user per batch).
// The direct loop reads each item row once and keeps the users' rows in L1.
constexpr int64_t kDirectUsers = 16;

// tile[r * kItemTile + j] = uw[r] . items[j] for r < nb, j < nt; four items
// at a time, so the four sums are independent vector chains.
void score_tile_direct(const float* uw, int64_t nb, const float* items, int64_t nt, int64_t dim,
                       float* tile) {
  int64_t j = 0;
  for (; j + 4 <= nt; j += 4) {
    const float* v0 = items + j * dim;
    const float* v1 = v0 + dim;
    const float* v2 = v1 + dim;
    const float* v3 = v2 + dim;
    for (int64_t r = 0; r < nb; ++r) {
      const float* x = uw + r * dim;
      float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
      for (int64_t a = 0; a < dim; ++a) {
        a0 += x[a] * v0[a];
        a1 += x[a] * v1[a];
        a2 += x[a] * v2[a];
        a3 += x[a] * v3[a];
      }
      float* out = tile + r * kItemTile + j;
      out[0] = a0;
      out[1] = a1;
      out[2] = a2;
      out[3] = a3;
    }
  }
  for (; j < nt; ++j) {
    const float* v = items + j * dim;
    for (int64_t r = 0; r < nb; ++r) {
      const float* x = uw + r * dim;
      float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
      for (int64_t a = 0; a < dim; ++a) acc += x[a] * v[a];
      tile[r * kItemTile + j] = acc;
    }
  }
}

// Scores users [first_user, first_user + count) of the group against items
// [item_begin, item_end), tile by tile, on the calling thread. `uw` holds
// the group's rows of U W.
template <typename Index>
void topk_user_range(const AllItemsTopKParams<Index>& p, int64_t first_user, int64_t count,
                     int64_t item_begin, int64_t item_end, const float* uw, int64_t cap,
                     UserCandidates* users, float* tile) {
  const int d = static_cast<int>(p.dim);
  for (int64_t j0 = item_begin; j0 < item_end; j0 += kItemTile) {
    const int64_t nt = std::min(kItemTile, item_end - j0);
    for (int64_t b0 = first_user; b0 < first_user + count; b0 += kUserBlock) {
      const int64_t nb = std::min(kUserBlock, first_user + count - b0);
      if (nb <= kDirectUsers) {
        score_tile_direct(uw + b0 * p.dim, nb, p.items + j0 * p.dim, nt, p.dim, tile);
      } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nb),
                    static_cast<int>(nt), d, 1.0f, uw + b0 * p.dim, d, p.items + j0 * p.dim, d,
                    0.0f, tile, static_cast<int>(kItemTile));
      }
      for (int64_t r = 0; r < nb; ++r) {
        scan_row(tile + r * kItemTile, nt, j0, p.k, cap, users[b0 + r]);
      }
    }
  }
}

// A group with fewer user blocks than threads (a serving batch of up to 128
// users) would leave threads idle, so its threads split the item tiles
// instead: each keeps candidates of its own for every user of the group
// over its contiguous run of tiles (increasing ids within the run, as the
// threshold test needs), and each user's candidates from all threads are
// then cut to the top k. Keys order by score and then by lower id, so the
// merged result is the same as one thread's.
template <typename Index>
void topk_split_items(const AllItemsTopKParams<Index>& p, int64_t g0, int64_t gn, int64_t cap,
                      int threads, int64_t* excluded, const int64_t* excluded_offsets) {
  const int64_t dim = p.dim, k = p.k;
  const int d = static_cast<int>(dim);
  const int64_t tiles = (p.num_items + kItemTile - 1) / kItemTile;
  std::unique_ptr<float[]> uw = uninitialised_floats(gn * dim);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(gn), d, d, 1.0f,
              p.users + g0 * dim, d, p.w, d, 0.0f, uw.get(), d);
  for (int64_t u = 0; u < gn; ++u) {
    std::sort(excluded + excluded_offsets[u], excluded + excluded_offsets[u + 1]);
  }
  std::vector<uint64_t> keys(static_cast<std::size_t>(threads * gn * cap));
  std::vector<UserCandidates> users(static_cast<std::size_t>(threads * gn));
#pragma omp parallel num_threads(threads)
  {
    const int64_t team = omp_get_num_threads(), thread = omp_get_thread_num();
    const int64_t begin = std::min(p.num_items, tiles * thread / team * kItemTile);
    const int64_t end = std::min(p.num_items, tiles * (thread + 1) / team * kItemTile);
    UserCandidates* mine = users.data() + thread * gn;
    for (int64_t u = 0; u < gn; ++u) {
      mine[u] = UserCandidates{keys.data() + (thread * gn + u) * cap, 0,
                               -std::numeric_limits<float>::infinity(),
                               excluded + excluded_offsets[u], excluded + excluded_offsets[u + 1]};
    }
    std::unique_ptr<float[]> tile = uninitialised_floats(kUserBlock * kItemTile);
    topk_user_range(p, 0, gn, begin, end, uw.get(), cap, mine, tile.get());
#pragma omp barrier
    std::vector<uint64_t> merged(static_cast<std::size_t>(team * cap));
#pragma omp for schedule(static)
    for (int64_t u = 0; u < gn; ++u) {
      UserCandidates all{merged.data(), 0, 0.0f, nullptr, nullptr};
      for (int64_t t = 0; t < team; ++t) {
        const UserCandidates& c = users[t * gn + u];
        all.count = std::copy(c.keys, c.keys + c.count, all.keys + all.count) - all.keys;
      }
      write_user_topk(all, k, p.top_items + (g0 + u) * k, p.top_scores + (g0 + u) * k);
    }
  }
}

template <typename Index>
void all_items_topk_impl(const AllItemsTopKParams<Index>& p) {
  const int64_t dim = p.dim;
  const int64_t k = p.k;
  const int d = static_cast<int>(dim);
  // Room for k kept keys plus a stretch of new candidates, so a cut (O(cap))
  // happens at most once every cap - k appends.
  const int64_t cap = std::max<int64_t>(2 * k, k + 256);
  // Fewer users per group when k is so large that their buffers would
  // outgrow kCandidateBytes (k <= 2048 keeps the full group).
  const int64_t fit = std::max<int64_t>(1, kCandidateBytes / (cap * int64_t{sizeof(uint64_t)}));
  const int64_t group = std::min({p.num_users, kUserGroup, fit});

  std::unique_ptr<float[]> uw = uninitialised_floats(group * dim);
  std::vector<uint64_t> keys(static_cast<std::size_t>(group * cap));
  std::vector<UserCandidates> users(static_cast<std::size_t>(group));
  std::vector<int64_t> excluded;  // the group's lists, each sorted
  std::vector<int64_t> excluded_offsets(group + 1, 0);

  for (int64_t g0 = 0; g0 < p.num_users; g0 += group) {
    const int64_t gn = std::min(group, p.num_users - g0);
    if (p.exclude_offsets != nullptr) {
      const int64_t base = p.exclude_offsets[g0];
      for (int64_t u = 0; u <= gn; ++u) excluded_offsets[u] = p.exclude_offsets[g0 + u] - base;
      excluded.assign(p.exclude_items + base, p.exclude_items + base + excluded_offsets[gn]);
    }

    // The item split needs a tile per thread and candidate buffers per
    // thread, which must fit the same budget as the user split's.
    const int threads = omp_get_max_threads();
    if ((gn + kUserBlock - 1) / kUserBlock < threads &&
        (p.num_items + kItemTile - 1) / kItemTile >= threads &&
        threads * gn * cap * int64_t{sizeof(uint64_t)} <= kCandidateBytes) {
      topk_split_items(p, g0, gn, cap, threads, excluded.data(), excluded_offsets.data());
      continue;
    }
    // Each thread owns a contiguous run of whole user blocks for the entire
    // item loop: a user's items then arrive in increasing order (which the
    // threshold test relies on) with no barrier between tiles, and the
    // threads walk the item tiles roughly in step, sharing them in L3.
#pragma omp parallel
    {
      const int64_t threads = omp_get_num_threads();
      const int64_t thread = omp_get_thread_num();
      const int64_t blocks = (gn + kUserBlock - 1) / kUserBlock;
      const int64_t first = std::min(gn, (blocks * thread / threads) * kUserBlock);
      const int64_t last = std::min(gn, (blocks * (thread + 1) / threads) * kUserBlock);
      if (first < last) {
        for (int64_t u = first; u < last; ++u) {
          int64_t* begin = excluded.data() + excluded_offsets[u];
          int64_t* end = excluded.data() + excluded_offsets[u + 1];
          std::sort(begin, end);
          users[u] = UserCandidates{keys.data() + u * cap, 0,
                                    -std::numeric_limits<float>::infinity(), begin, end};
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(last - first), d, d,
                    1.0f, p.users + (g0 + first) * dim, d, p.w, d, 0.0f, uw.get() + first * dim, d);
        std::unique_ptr<float[]> tile = uninitialised_floats(kUserBlock * kItemTile);
        topk_user_range(p, first, last - first, 0, p.num_items, uw.get(), cap, users.data(),
                        tile.get());
        for (int64_t u = first; u < last; ++u) {
          write_user_topk(users[u], k, p.top_items + (g0 + u) * k, p.top_scores + (g0 + u) * k);
        }
      }
    }
  }
}

}  // namespace

void bilinear_forward(const BilinearParams& p, float* z) {
  // Rows in chunks small enough that a chunk of U W stays in L2 between the
  // single-threaded GEMM that writes it and the dots that read it.
  constexpr int64_t kRows = 256;
  const int d = static_cast<int>(p.dim);
  const int64_t chunks = (p.batch + kRows - 1) / kRows;
#pragma omp parallel if (chunks > 1)
  {
    std::unique_ptr<float[]> uw = uninitialised_floats(kRows * p.dim);
#pragma omp for schedule(static) nowait
    for (int64_t r0 = 0; r0 < p.batch; r0 += kRows) {
      const int64_t rows = std::min(kRows, p.batch - r0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), d, d, 1.0f,
                  p.u + r0 * p.dim, d, p.w, d, 0.0f, uw.get(), d);
      for (int64_t r = 0; r < rows; ++r) {
        const float* a = uw.get() + r * p.dim;
        const float* v = p.v + (r0 + r) * p.dim;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < p.dim; ++j) acc += a[j] * v[j];
        z[r0 + r] = acc;
      }
    }
  }
}

void bilinear_backward(const BilinearParams& p, const float* dz, float* du, float* dv, float* dw) {
  // Same chunking as the forward: every GEMM is a single-threaded call on a
  // chunk, so the whole op is one OpenMP region (no hand-off between the
  // OpenMP and OpenBLAS thread pools, which costs most when cores are shared).
  constexpr int64_t kRows = 256;
  const int64_t dim = p.dim;
  const int d = static_cast<int>(dim);
  const int64_t chunks = (p.batch + kRows - 1) / kRows;
  // dw's per-thread partial sums, added to dw in thread order afterwards.
  const int threads = omp_get_max_threads();
  std::vector<float> partials(static_cast<std::size_t>(threads * dim * dim), 0.0f);
#pragma omp parallel num_threads(threads) if (chunks > 1)
  {
    float* dw_partial = partials.data() + omp_get_thread_num() * dim * dim;
#pragma omp for schedule(static) nowait
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t r0 = c * kRows;
      const int rows = static_cast<int>(std::min(kRows, p.batch - r0));
      const float* u = p.u + r0 * dim;
      float* dv_rows = dv + r0 * dim;
      // dv first holds diag(dz) V: it feeds both dw += U^T (diag(dz) V) and
      // du = (diag(dz) V) W^T, so the op needs no scratch.
      scale_rows(dz + r0, p.v + r0 * dim, rows, dim, dv_rows);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, rows, 1.0f, u, d, dv_rows, d, 1.0f,
                  dw_partial, d);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, d, d, 1.0f, dv_rows, d, p.w, d,
                  0.0f, du + r0 * dim, d);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d, d, 1.0f, u, d, p.w, d, 0.0f,
                  dv_rows, d);
      scale_rows(dz + r0, dv_rows, rows, dim, dv_rows);
    }
  }
  for (int t = 0; t < threads; ++t) {
    const float* partial = partials.data() + t * dim * dim;
#pragma omp simd
    for (int64_t i = 0; i < dim * dim; ++i) dw[i] += partial[i];
  }
}

void fused_score_forward(const FusedScoreParams& p, float* out) {
  const double lambda = *p.lambda;
  const float lam = static_cast<float>(lambda);
  const float inv_norm = static_cast<float>(1.0 / std::sqrt(1.0 + lambda * lambda));
#pragma omp parallel for simd schedule(static) if (p.batch >= kParallelBatch)
  for (int64_t b = 0; b < p.batch; ++b) out[b] = (p.z[b] + lam * p.g[b]) * inv_norm;
}

void fused_score_backward(const FusedScoreParams& p, const float* dout, float* dz, float* dg,
                          float* dlambda) {
  const double lambda = *p.lambda;
  const double norm2 = 1.0 + lambda * lambda;
  const float lam = static_cast<float>(lambda);
  const float inv_norm = static_cast<float>(1.0 / std::sqrt(norm2));
  double sum = 0.0;  // sum_b dout * (g - lambda z), in double: it runs over the whole batch
#pragma omp parallel for simd schedule(static) reduction(+ : sum) if (p.batch >= kParallelBatch)
  for (int64_t b = 0; b < p.batch; ++b) {
    const float d = dout[b];
    const float z = p.z[b];
    const float g = p.g[b];
    sum += static_cast<double>(d) * (static_cast<double>(g) - lambda * static_cast<double>(z));
    dz[b] = d * inv_norm;
    dg[b] = d * lam * inv_norm;
  }
  *dlambda += static_cast<float>(sum / (norm2 * std::sqrt(norm2)));
}

void all_items_topk(const AllItemsTopKParams<int32_t>& p) { all_items_topk_impl(p); }
void all_items_topk(const AllItemsTopKParams<int64_t>& p) { all_items_topk_impl(p); }

}  // namespace hybrec::kernels::cpu
