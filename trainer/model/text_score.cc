#include "trainer/model/text_score.h"

#include <cstring>

namespace hybrec::trainer {

namespace k = hybrec::kernels;

template <typename Index>
void query_scatter(int64_t batch, int64_t len, const Index* hist, k::HostRowScatter* out) {
  out->offsets.resize(static_cast<std::size_t>(batch + 1));
  out->src_index.clear();
  out->offsets[0] = 0;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t l = 0; l < len; ++l) {
      const int64_t h = static_cast<int64_t>(hist[b * len + l]);
      if (h >= 0) out->src_index.push_back(h);
    }
    out->offsets[static_cast<std::size_t>(b + 1)] = static_cast<int64_t>(out->src_index.size());
  }
}

template void query_scatter<int32_t>(int64_t, int64_t, const int32_t*, k::HostRowScatter*);
template void query_scatter<int64_t>(int64_t, int64_t, const int64_t*, k::HostRowScatter*);

void text_queries(const k::Device& device, const k::RowScatter& scatter, int64_t num_rows,
                  int64_t text_dim, const float* rows, float* q, float* q_inv) {
  const int64_t batch = scatter.dst_rows;
  if (batch == 0) return;
  // The sums start from zero and add each history row in turn, as the
  // trainer's original loop did, so the CPU results keep their bits.
  k::fill_zero(device, q, static_cast<std::size_t>(batch * text_dim) * sizeof(float));
  k::scatter_add_rows(device, scatter, rows, num_rows, text_dim, q);
  k::row_inverse_norms(device, q, batch, text_dim, q_inv);
  k::scale_rows(device, q, q_inv, batch, text_dim, q);
}

void text_cosines(const k::Device& device, int64_t n, int64_t text_dim, const float* q,
                  const int64_t* user, const float* rows, int64_t num_rows, const float* inv,
                  const int64_t* cand, float* pair_inv, float* cos) {
  if (n == 0) return;
  // The dot first, then the candidate's inverse norm: (q . t) * inv.
  k::row_dot(device, q, user, rows, cand, n, text_dim, cos);
  k::gather_rows(device, inv, num_rows, 1, cand, n, pair_inv, false);
  k::mul(device, cos, pair_inv, n, cos);
}

}  // namespace hybrec::trainer
