// The text relevance term's inputs: the user query q_u (the normalised mean
// of the history items' text vectors) and cos(q_u, t_j). Neither depends on
// a trained parameter (the text vectors are frozen), so they have no
// backward; the learned text_scale and lambda multiply them later. The
// index arrays are built on the host; the sums run on the model's device.
#pragma once

#include <cstdint>

#include "hybrec/kernels/device.h"
#include "hybrec/kernels/elementwise.h"

namespace hybrec::trainer {

// Host: the scatter whose destination b receives the text rows hist[b, l]
// of its real slots (hist >= 0) in order of l, so the query sums add in the
// history's order. Index: int32_t slots or int64_t ids.
template <typename Index>
void query_scatter(int64_t batch, int64_t len, const Index* hist, kernels::HostRowScatter* out);

// q [batch, T] (OVERWRITTEN) = unit vector along the sum (equivalently the
// mean) of the rows the scatter names; zero when it names none or the sum is
// zero. rows [num_rows, T]; q_inv [batch] is scratch (the sums' inverse norms).
void text_queries(const kernels::Device& device, const kernels::RowScatter& scatter,
                  int64_t num_rows, int64_t text_dim, const float* rows, float* q, float* q_inv);

// cos [n] (OVERWRITTEN) = q[user[i]] . rows[cand[i]] * inv[cand[i]], with inv
// [num_rows] the rows' inverse norms (kernels::row_inverse_norms: 0 for a zero
// row, so its cosine is 0); pair_inv [n] is scratch.
void text_cosines(const kernels::Device& device, int64_t n, int64_t text_dim, const float* q,
                  const int64_t* user, const float* rows, int64_t num_rows, const float* inv,
                  const int64_t* cand, float* pair_inv, float* cos);

}  // namespace hybrec::trainer
