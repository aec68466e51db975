#include "trainer/model/item_tower.h"

#include <cstring>

#include "hybrec/kernels/dense.h"
#include "hybrec/kernels/error.h"
#include "trainer/model/counter_rng.h"

namespace hybrec::trainer {
namespace {
constexpr uint64_t kDropoutStream = 0xD40F0F17ull;
}  // namespace

float id_keep(uint64_t dropout_seed, int64_t item_id, float p) {
  if (p <= 0.0f) return 1.0f;
  // u < p with u in [0, 1): p = 1 drops every item.
  return counter_uniform(dropout_seed, kDropoutStream, static_cast<uint64_t>(item_id)) < p ? 0.0f
                                                                                           : 1.0f;
}

void gather_text_rows(int64_t n, int64_t text_dim, const int64_t* ids, const float* text_emb,
                      int64_t num_text_rows, float* out) {
  const std::size_t row_bytes = static_cast<std::size_t>(text_dim) * sizeof(float);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = ids[i];
    HYBREC_CHECK(id >= 0 && (num_text_rows <= 0 || id < num_text_rows), "item id ", id,
                 " out of range [0, ", num_text_rows, ") of the text embeddings at position ", i);
    std::memcpy(out + i * text_dim, text_emb + id * text_dim, row_bytes);
  }
}

namespace {

// The adapter A t as a linear layer without bias over the n text rows.
kernels::LinearParams adapter_linear(const ItemTowerArgs& a) {
  kernels::LinearParams lp;
  lp.n = a.n;
  lp.in_features = a.text_dim;
  lp.out_features = a.dim;
  lp.x = a.text_rows;
  lp.weight = a.adapter;
  return lp;
}

}  // namespace

void item_tower_forward(const ItemTowerArgs& a, float* out) {
  const int64_t n = a.n, d = a.dim;
  if (n == 0) return;
  if (a.text_rows != nullptr) {
    kernels::LinearParams lp = adapter_linear(a);
    lp.y = out;
    kernels::linear_forward(kernels::Device::cpu(), lp);
  } else {
    std::memset(out, 0, static_cast<std::size_t>(n * d) * sizeof(float));
  }
  if (a.id_rows == nullptr) return;
  for (int64_t i = 0; i < n; ++i) {
    const float m = a.keep != nullptr ? a.keep[i] : 1.0f;
    if (m == 0.0f) continue;
    const float* e = a.id_rows + i * d;
    float* v = out + i * d;
    for (int64_t k = 0; k < d; ++k) v[k] += m * e[k];
  }
}

void item_tower_backward(const ItemTowerArgs& a, const float* dv, float* id_row_grads,
                         float* dadapter) {
  const int64_t n = a.n, d = a.dim;
  if (n == 0) return;
  if (id_row_grads != nullptr) {
    if (a.id_rows == nullptr) {
      std::memset(id_row_grads, 0, static_cast<std::size_t>(n * d) * sizeof(float));
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const float m = a.keep != nullptr ? a.keep[i] : 1.0f;
        for (int64_t k = 0; k < d; ++k) id_row_grads[i * d + k] = m * dv[i * d + k];
      }
    }
  }
  if (a.text_rows != nullptr) {
    kernels::LinearParams lp = adapter_linear(a);
    lp.dy = dv;
    lp.dweight = dadapter;
    kernels::linear_backward(kernels::Device::cpu(), lp);
  }
}

}  // namespace hybrec::trainer
