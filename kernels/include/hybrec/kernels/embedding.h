// Embedding tables: row gather, pooled bags (sum / mean, optional
// per-sample weights), the backward as a segment-sum into unique rows, and
// the sparse row-wise Adagrad and Adam updates applied to those rows.
//
// Layout and types
//   A table is `num_rows` x `dim` floats, row-major (row r starts at
//   table + r * dim). Row ids are int64 everywhere: tables held by the
//   parameter server exceed 2^31 rows, and the trainer's keys are int64.
//   Offsets are int64 as well.
//
// Bags (CSR)
//   Bag b is the multiset of rows indices[offsets[b] .. offsets[b+1]),
//   offsets has count+1 entries, offsets[0] == 0, offsets is non-decreasing
//   and offsets[count] == num_indices. Empty bags are allowed.
//   offsets == nullptr means "one index per bag" (count == num_indices), so a
//   plain gather has a backward too: pass the gather's indices as bags with
//   null offsets.
//   With weights w (per_sample_weights, one per index, nullptr = all 1):
//     kSum:  out[b] = sum_p w[p] * table[indices[p]]
//     kMean: out[b] = sum_p w[p] * table[indices[p]] / len(b)
//   i.e. the weighted mean divides by the number of indices, not by the sum
//   of the weights (as torch.nn.EmbeddingBag and FBGEMM do). An empty bag
//   yields a zero row under both poolings.
//   No gradient is produced for the per-sample weights (they are inputs).
//
// Backward
//   For every distinct row r that occurs in the bags,
//     grad[r] = sum over positions p with indices[p] == r of
//               w[p] * grad_out[bag(p)] (/ len(bag(p)) for kMean).
//   The distinct ids come out sorted ascending, each with its gradient row.
//   Within one row the contributions are added in increasing position
//   order on both backends.
//
// Optimizers (applied to distinct rows only; rows that do not appear are
//   untouched, i.e. "lazy" sparse optimizers as in FBGEMM / TF LazyAdam)
//   Row-wise Adagrad (FBGEMM's EXACT_ROWWISE_ADAGRAD), one state float per row:
//     state[r] += mean_j g_j^2
//     w_j      -= lr * g_j / (sqrt(state[r]) + eps)
//   Adam, two state floats per element, step t >= 1 counted by the caller:
//     m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//     w -= lr * ( (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + wd * w )
//   weight decay is decoupled (AdamW); wd = 0 gives plain Adam.
//   The per-row math is the inline rowwise_adagrad_row / adam_row below; the
//   CPU backend calls exactly these, and the parameter server reuses them.
//
// Index validation
//   With device.check_bounds every index is checked against [0, num_rows)
//   and the offsets against the rules above; a violation throws
//   hybrec::Error naming the value, the range and the position (the first
//   bad position). On CPU the check is a serial pre-pass over the indices;
//   on CUDA a small kernel plus one synchronisation. Without it, a bad
//   index is undefined behaviour.
//
// Aliasing: outputs never alias inputs, except that the updates modify
//   table and state in place. unique_ids passed to the updates must be
//   distinct (the backward's output is); repeated ids race.
//
// CUDA vs CPU tolerances (|cuda - cpu| <= atol + rtol * |cpu|):
//   gather: exact.  forward, backward: atol 1e-5, rtol 1e-5 (both backends
//   add in position order with separately rounded multiplies and adds; the
//   margin covers a host compiler that contracts them to FMA).  Adagrad /
//   Adam updates of weights and states: atol 1e-5, rtol 1e-4 (the row's sum
//   of squares is reduced in a different order).
//
// Limits (embedding_supports): every op takes any dim >= 1 on both
//   backends; the backward and the fused update take at most
//   kMaxBackwardIndices indices and bags per call (positions and bags are
//   sorted as int32).
//
// Speed (CPU): the ops are bound by random row reads. A large table should
//   sit in 2 MB pages (madvise(MADV_HUGEPAGE) on a 2 MB-aligned block):
//   with 4 KB pages each row read also walks the page table, which costs
//   more than the read itself (benchmarks/kernels/embedding.cc shows both).
//
// Scratch: the backward and the fused update sort the indices. The CPU
//   backend keeps that scratch (about 40 bytes per index) per calling
//   thread between calls; the CUDA backend takes it from the stream-ordered
//   pool (cudaMallocAsync) and sets the device's default pool to keep freed
//   memory cached rather than return it at every synchronisation.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "hybrec/kernels/device.h"

namespace hybrec::kernels {

enum class Pooling { kSum, kMean };

const char* pooling_name(Pooling pooling);

// The bags of one lookup: shared by the forward, the backward and the fused
// update so that the three cannot disagree. All pointers live on the device
// the op runs on.
struct EmbeddingBags {
  const int64_t* indices = nullptr;           // [num_indices] row ids
  const int64_t* offsets = nullptr;           // [count + 1] CSR, or nullptr: one index per bag
  int64_t count = 0;                          // number of bags
  int64_t num_indices = 0;                    // == offsets[count]
  const float* per_sample_weights = nullptr;  // [num_indices], or nullptr for all-ones
  Pooling pooling = Pooling::kSum;
};

struct RowwiseAdagradParams {
  float learning_rate = 0.01f;
  float eps = 1e-8f;
};

struct AdamParams {
  float learning_rate = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // decoupled (AdamW)
  int64_t step = 1;           // 1-based step used for the bias correction
};

inline constexpr int64_t kMaxBackwardIndices = std::numeric_limits<int32_t>::max();

enum class EmbeddingOp {
  kGather,
  kBagForward,
  kBagBackward,
  kRowwiseAdagrad,
  kAdam,
  kBackwardAdagrad
};

// Whether `backend` runs `op` at this size (dim, and the number of indices
// for the ops that sort).
bool embedding_supports(Backend backend, EmbeddingOp op, int64_t dim, int64_t num_indices);

// out[i, :] = table[indices[i], :] for i < n. Overwrites out [n, dim].
void embedding_gather(const Device& device, const float* table, int64_t num_rows, int64_t dim,
                      const int64_t* indices, int64_t n, float* out);

// out[b, :] = pooled bag b (see the header comment). Overwrites out [bags.count, dim].
void embedding_bag_forward(const Device& device, const float* table, int64_t num_rows, int64_t dim,
                           const EmbeddingBags& bags, float* out);

// Segment-sum of grad_out [bags.count, dim] into the distinct rows of the
// bags. Writes unique_ids[0..k) (ascending) and unique_grads[k, dim], where
// k is returned; both outputs need capacity for bags.num_indices rows.
// On CUDA this synchronises the stream (to return k).
int64_t embedding_bag_backward(const Device& device, const EmbeddingBags& bags,
                               const float* grad_out, int64_t num_rows, int64_t dim,
                               int64_t* unique_ids, float* unique_grads);

// Row-wise Adagrad on rows unique_ids[0..num_unique): table [num_rows, dim]
// and state [num_rows] are updated in place with unique_grads [num_unique, dim].
void rowwise_adagrad_update(const Device& device, float* table, float* state, int64_t num_rows,
                            int64_t dim, const int64_t* unique_ids, const float* unique_grads,
                            int64_t num_unique, const RowwiseAdagradParams& params);

// Adam on rows unique_ids[0..num_unique): table, m and v are [num_rows, dim]
// and updated in place.
void adam_update(const Device& device, float* table, float* m, float* v, int64_t num_rows,
                 int64_t dim, const int64_t* unique_ids, const float* unique_grads,
                 int64_t num_unique, const AdamParams& params);

// embedding_bag_backward followed by rowwise_adagrad_update, without
// materialising the unique gradients for the caller and without a round
// trip to the host (on CUDA nothing synchronises unless check_bounds).
void embedding_bag_backward_adagrad(const Device& device, const EmbeddingBags& bags,
                                    const float* grad_out, float* table, float* state,
                                    int64_t num_rows, int64_t dim,
                                    const RowwiseAdagradParams& params);

// ---- Per-row optimizer math, shared by the CPU backend and the parameter server.

// One row of row-wise Adagrad: *state += mean(g^2); w -= lr * g / (sqrt(*state) + eps).
inline void rowwise_adagrad_row(float* w, float* state, const float* g, int64_t dim,
                                const RowwiseAdagradParams& params) {
  // Eight partial sums in a fixed order: vectorisable without -ffast-math or
  // OpenMP pragmas (this header is also compiled by nvcc's host compiler),
  // and the same result whatever the compiler chooses.
  float partial[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  int64_t j = 0;
  for (; j + 8 <= dim; j += 8) {
    for (int k = 0; k < 8; ++k) partial[k] += g[j + k] * g[j + k];
  }
  for (; j < dim; ++j) partial[j % 8] += g[j] * g[j];
  const float sum_sq = ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
                       ((partial[4] + partial[5]) + (partial[6] + partial[7]));
  const float s = *state + sum_sq / static_cast<float>(dim);
  *state = s;
  const float step = params.learning_rate / (std::sqrt(s) + params.eps);
  for (j = 0; j < dim; ++j) w[j] -= step * g[j];
}

// 1 / (1 - beta^step), computed in double so a long run's correction is exact to float.
inline float adam_inverse_bias_correction(float beta, int64_t step) {
  return static_cast<float>(1.0 /
                            (1.0 - std::pow(static_cast<double>(beta), static_cast<double>(step))));
}

// One row of Adam (see the header comment for the formula).
inline void adam_row(float* w, float* m, float* v, const float* g, int64_t dim,
                     const AdamParams& params) {
  const float b1 = params.beta1, b2 = params.beta2;
  const float inv_bc1 = adam_inverse_bias_correction(b1, params.step);
  const float inv_bc2 = adam_inverse_bias_correction(b2, params.step);
  const float lr = params.learning_rate, eps = params.eps, wd = params.weight_decay;
  for (int64_t j = 0; j < dim; ++j) {
    const float mj = b1 * m[j] + (1.0f - b1) * g[j];
    const float vj = b2 * v[j] + (1.0f - b2) * g[j] * g[j];
    m[j] = mj;
    v[j] = vj;
    w[j] -= lr * ((mj * inv_bc1) / (std::sqrt(vj * inv_bc2) + eps) + wd * w[j]);
  }
}

}  // namespace hybrec::kernels
