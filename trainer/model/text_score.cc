#include "trainer/model/text_score.h"

#include <cmath>
#include <cstring>

namespace hybrec::trainer {

void text_inverse_norms(int64_t n, int64_t text_dim, const float* rows, float* inv) {
  for (int64_t i = 0; i < n; ++i) {
    const float* t = rows + i * text_dim;
    float sq = 0.0f;
    for (int64_t k = 0; k < text_dim; ++k) sq += t[k] * t[k];
    inv[i] = sq > 0.0f ? 1.0f / std::sqrt(sq) : 0.0f;
  }
}

template <typename Index>
void text_queries(int64_t batch, int64_t len, int64_t text_dim, const Index* hist,
                  const float* rows, float* q) {
  std::memset(q, 0, static_cast<std::size_t>(batch * text_dim) * sizeof(float));
  for (int64_t b = 0; b < batch; ++b) {
    float* out = q + b * text_dim;
    for (int64_t l = 0; l < len; ++l) {
      const int64_t h = static_cast<int64_t>(hist[b * len + l]);
      if (h < 0) continue;
      const float* t = rows + h * text_dim;
      for (int64_t k = 0; k < text_dim; ++k) out[k] += t[k];
    }
    float inv = 0.0f;
    text_inverse_norms(1, text_dim, out, &inv);
    for (int64_t k = 0; k < text_dim; ++k) out[k] *= inv;
  }
}

template void text_queries<int32_t>(int64_t, int64_t, int64_t, const int32_t*, const float*,
                                    float*);
template void text_queries<int64_t>(int64_t, int64_t, int64_t, const int64_t*, const float*,
                                    float*);

void text_cosines(int64_t batch, int64_t cands, int64_t text_dim, const float* q,
                  const int32_t* cand, const float* rows, const float* inv, float* cos) {
  for (int64_t b = 0; b < batch; ++b) {
    const float* qb = q + b * text_dim;
    for (int64_t c = 0; c < cands; ++c) {
      const int64_t j = cand[b * cands + c];
      const float* t = rows + j * text_dim;
      float dot = 0.0f;
      for (int64_t k = 0; k < text_dim; ++k) dot += qb[k] * t[k];
      cos[b * cands + c] = dot * inv[j];
    }
  }
}

}  // namespace hybrec::trainer
