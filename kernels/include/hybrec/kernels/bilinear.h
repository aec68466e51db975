// Bilinear scoring: the per-example score z = u^T W v with its backward, the
// fused score z' = (z + lambda * g) / sqrt(1 + lambda^2) with its backward,
// and all-items scoring S = U W V^T followed by per-user top-k selection
// (full-ranking evaluation).
//
// All matrices are row-major float32 and densely packed (the leading
// dimension is the row length). For Backend::kCuda every array pointer,
// `lambda` and `dlambda` included, is a device pointer.
//
// Accuracy of the CUDA backend against the CPU backend (|cuda - cpu| <=
// atol + rtol * |cpu|), for inputs of magnitude about 1, dim <= 256 and
// batch <= 16384. Both backends compute in float32 with different summation
// orders; the CUDA GEMMs run in full fp32 (no TF32):
//   z, du, dv, top_scores   atol 1e-4, rtol 1e-4
//   dw                      atol 1e-3, rtol 1e-4   (a sum over the batch)
//   fused z', dz, dg        atol 1e-6, rtol 1e-5
//   dlambda                 atol 1e-5, rtol 1e-4   (a sum over the batch)
//   top_items               identical wherever the scores of neighbouring
//                           ranks differ by more than the score tolerance;
//                           identical everywhere when every product and sum
//                           is exact in float32 (e.g. small integer inputs).
#pragma once

#include <cstdint>

#include "hybrec/kernels/device.h"

namespace hybrec::kernels {

// ---------------------------------------------------------------------------
// z[b] = sum_ij u[b,i] * w[i,j] * v[b,j]
// ---------------------------------------------------------------------------
struct BilinearParams {
  int64_t batch = 0;         // >= 0; batch == 0 is a no-op
  int64_t dim = 0;           // > 0
  const float* u = nullptr;  // [batch, dim]
  const float* v = nullptr;  // [batch, dim]
  const float* w = nullptr;  // [dim, dim]
};

// z [batch] is overwritten. Computed as (u W) row-dotted with v, with
// scratch the op allocates itself: on CPU each thread runs the GEMM on
// chunks of 256 rows into 256 * dim floats of its own; on CUDA one cuBLAS
// GEMM writes batch * dim floats from cudaMallocAsync on the op's stream,
// freed in stream order.
void bilinear_forward(const Device& device, const BilinearParams& p, float* z);

// Given dz [batch]:
//   du [batch, dim]  OVERWRITTEN with dz[b] * (W v_b)     (= diag(dz) V W^T)
//   dv [batch, dim]  OVERWRITTEN with dz[b] * (W^T u_b)   (= diag(dz) U W)
//   dw [dim, dim]    ACCUMULATED: dw += U^T diag(dz) V.
// dw accumulates so that dense gradients sum across micro-batches (and across
// calls) before the data-parallel all-reduce; zero it at the start of a step.
// dv doubles as scratch for diag(dz) V before it receives its own value, so
// du, dv and dw must not alias each other or any input. Beyond that the CUDA
// backend needs no scratch; the CPU backend works on chunks of 256 rows per
// thread and keeps one dim x dim partial sum of dw per thread (added to dw
// in thread order, so the result is deterministic for a given thread count).
void bilinear_backward(const Device& device, const BilinearParams& p, const float* dz, float* du,
                       float* dv, float* dw);

// ---------------------------------------------------------------------------
// Fused score z'[b] = (z[b] + lambda * g[b]) / sqrt(1 + lambda^2).
// lambda is one learned float read through a pointer, so it can live on the
// device next to the other parameters; g is the text cosine.
// ---------------------------------------------------------------------------
struct FusedScoreParams {
  int64_t batch = 0;              // >= 0
  const float* z = nullptr;       // [batch] bilinear score
  const float* g = nullptr;       // [batch] text score
  const float* lambda = nullptr;  // one float
};

// out [batch] is overwritten; it may alias z or g (elementwise).
void fused_score_forward(const Device& device, const FusedScoreParams& p, float* out);

// Given dout [batch]:
//   dz [batch] OVERWRITTEN with dout / sqrt(1 + lambda^2)
//   dg [batch] OVERWRITTEN with dout * lambda / sqrt(1 + lambda^2)
//   *dlambda   ACCUMULATED: += sum_b dout[b] * (g[b] - lambda * z[b]) / (1 + lambda^2)^{3/2}
// dz and dg may each alias z, g or dout (every element is read before it is
// written) but not each other; dlambda must not alias an array. The CPU sum over the batch is in
// double; the CUDA one reduces float partials in a fixed order, so both are
// deterministic run to run.
void fused_score_backward(const Device& device, const FusedScoreParams& p, const float* dout,
                          float* dz, float* dg, float* dlambda);

// ---------------------------------------------------------------------------
// All-items top-k: for every user u, the k items with the highest score
// S[u, j] = users[u] W items[j]^T, excluding the user's listed items.
// ---------------------------------------------------------------------------
//
// Order: descending score; equal scores rank the lower item id first. That
// makes the result a pure function of the inputs (no dependence on threads,
// tiles or the GPU's scheduling).
//
// Candidates: only items with score > -inf are ever returned (a NaN or -inf
// score counts as excluded). When a user has fewer than k candidates left
// after exclusions, the trailing entries are item -1 with score -inf.
//
// Exclusions (optional, CSR): user u's excluded items are
// exclude_items[exclude_offsets[u] .. exclude_offsets[u+1]), in any order,
// duplicates allowed. exclude_offsets[0] must be 0 and the offsets must not
// decrease; this is always checked (on CUDA the offsets are copied to the
// host, which synchronises the stream). With Device::check_bounds every
// excluded id must lie in [0, num_items) (Error otherwise, naming the id, its
// position and user); without it, out-of-range ids are simply never matched.
// exclude_offsets == nullptr means no exclusions.
//
// Limits: 1 <= k <= num_items; num_items <= 2^31 - 1 (ids fit an int32 and
// the 32-bit half of the GPU's 64-bit sort keys); on CUDA k <= 1024
// (all_items_topk_max_k). Violations throw hybrec::Error naming the value.
//
// Index is int32_t or int64_t and types both exclude_items and top_items.
//
// CPU: UW = U W once, then item tiles scored with cblas_sgemm into per-thread
// (user block x item tile) scratch that stays in L2, each row filtered against
// the user's current k-th best score, OpenMP over user blocks; with fewer
// user blocks (128 users) than threads, OpenMP over runs of item tiles
// instead, each user's candidates from every run merged at the end. OpenBLAS (the
// pthreads build) is set to one thread for the duration of the call, a
// process-wide setting restored afterwards (see cpu/bilinear.cc).
// CUDA: UW = U W, then per block of up to 1024 users a loop over item tiles of
// 4096: cuBLAS writes the tile's scores into a tile-sized buffer (S is never
// materialised beyond one tile) and one thread block per user merges the tile
// into the user's running top-k with threshold filtering and a shared-memory
// bitonic sort. Exclusion lists are sorted on the device (CUB) and probed by
// binary search. Scratch comes from cudaMallocAsync on the op's stream.
template <typename Index>
struct AllItemsTopKParams {
  int64_t num_users = 0;                     // >= 0; 0 is a no-op
  int64_t num_items = 0;                     // >= k
  int64_t dim = 0;                           // > 0
  int64_t k = 0;                             // 1 <= k <= num_items
  const float* users = nullptr;              // [num_users, dim]
  const float* items = nullptr;              // [num_items, dim]
  const float* w = nullptr;                  // [dim, dim]
  const int64_t* exclude_offsets = nullptr;  // [num_users + 1] or nullptr
  const Index* exclude_items = nullptr;      // [exclude_offsets[num_users]]
  Index* top_items = nullptr;                // [num_users, k] overwritten
  float* top_scores = nullptr;               // [num_users, k] overwritten
};

void all_items_topk(const Device& device, const AllItemsTopKParams<int32_t>& p);
void all_items_topk(const Device& device, const AllItemsTopKParams<int64_t>& p);

// The largest k the backend supports (the CPU has no limit below num_items).
int64_t all_items_topk_max_k(Backend backend);

}  // namespace hybrec::kernels
