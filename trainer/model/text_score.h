// The text relevance term's inputs: the user query q_u (the normalised mean
// of the history items' text vectors) and cos(q_u, t_j). Neither depends on
// a trained parameter (the text vectors are frozen), so they have no
// backward; the learned text_scale and lambda multiply them later.
#pragma once

#include <cstdint>

namespace hybrec::trainer {

// inv[i] = 1 / |rows[i]|, or 0 for a zero row (so cos with it is 0).
void text_inverse_norms(int64_t n, int64_t text_dim, const float* rows, float* inv);

// q [batch, T] (OVERWRITTEN) = unit vector along the sum (equivalently the
// mean) of rows[hist[b, l]] over the real slots (hist >= 0); zero when the
// user has no real slot or the sum is zero. Index: int32_t slots or int64_t ids.
template <typename Index>
void text_queries(int64_t batch, int64_t len, int64_t text_dim, const Index* hist,
                  const float* rows, float* q);

// cos [batch, C] (OVERWRITTEN) = q_b . rows[cand[b, c]] * inv[cand[b, c]].
void text_cosines(int64_t batch, int64_t cands, int64_t text_dim, const float* q,
                  const int32_t* cand, const float* rows, const float* inv, float* cos);

}  // namespace hybrec::trainer
