#include "trainer/model/item_tower.h"

#include <limits>

#include "hybrec/kernels/dense.h"
#include "hybrec/kernels/elementwise.h"
#include "hybrec/kernels/error.h"
#include "trainer/model/counter_rng.h"

namespace hybrec::trainer {
namespace {
namespace k = hybrec::kernels;
constexpr uint64_t kDropoutStream = 0xD40F0F17ull;
}  // namespace

float id_keep(uint64_t dropout_seed, int64_t item_id, float p) {
  if (p <= 0.0f) return 1.0f;
  // u < p with u in [0, 1): p = 1 drops every item.
  return counter_uniform(dropout_seed, kDropoutStream, static_cast<uint64_t>(item_id)) < p ? 0.0f
                                                                                           : 1.0f;
}

void gather_text_rows(const k::Device& device, int64_t n, int64_t text_dim, const int64_t* host_ids,
                      const int64_t* device_ids, const float* text_emb, int64_t num_text_rows,
                      float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = host_ids[i];
    HYBREC_CHECK(id >= 0 && (num_text_rows <= 0 || id < num_text_rows), "item id ", id,
                 " out of range [0, ", num_text_rows, ") of the text embeddings at position ", i);
  }
  // The ids are checked above; without a row count the table's end is the
  // caller's promise.
  const int64_t rows = num_text_rows > 0 ? num_text_rows : std::numeric_limits<int64_t>::max();
  k::gather_rows(device, text_emb, rows, text_dim, device_ids, n, out, false);
}

namespace {

// The adapter A t as a linear layer without bias over the n text rows.
k::LinearParams adapter_linear(const ItemTowerArgs& a) {
  k::LinearParams lp;
  lp.n = a.n;
  lp.in_features = a.text_dim;
  lp.out_features = a.dim;
  lp.x = a.text_rows;
  lp.weight = a.adapter;
  return lp;
}

}  // namespace

void item_tower_forward(const k::Device& device, const ItemTowerArgs& a, float* out) {
  const int64_t n = a.n, d = a.dim;
  if (n == 0) return;
  if (a.text_rows != nullptr) {
    k::LinearParams lp = adapter_linear(a);
    lp.y = out;
    k::linear_forward(device, lp);
  } else {
    k::fill_zero(device, out, static_cast<std::size_t>(n * d) * sizeof(float));
  }
  // v += m * e, skipping dropped rows (m == 0) rather than adding 0 * e.
  if (a.id_rows != nullptr) k::add_scaled_rows(device, a.id_rows, a.keep, n, d, out);
  if (a.dropped_rows != nullptr) k::add_scaled_rows(device, a.dropped_rows, a.drop, n, d, out);
  if (a.new_item != nullptr) {
    k::gather_rows(device, a.new_item, 1, d, a.new_item_index, n, out, true);
  }
}

void new_item_index(const std::vector<float>& keep, std::vector<int64_t>* index) {
  index->resize(keep.size());
  for (std::size_t i = 0; i < keep.size(); ++i) (*index)[i] = keep[i] == 0.0f ? 0 : -1;
}

void item_tower_backward(const k::Device& device, const ItemTowerArgs& a, const float* dv,
                         float* id_row_grads, float* dadapter, float* dnew_item) {
  const int64_t n = a.n, d = a.dim;
  if (n == 0) return;
  if (id_row_grads != nullptr) {
    if (a.id_rows == nullptr) {
      k::fill_zero(device, id_row_grads, static_cast<std::size_t>(n * d) * sizeof(float));
    } else if (a.keep != nullptr) {
      k::scale_rows(device, dv, a.keep, n, d, id_row_grads);
    } else {
      k::copy(device, dv, n * d, id_row_grads);  // m = 1: 1 * dv is dv exactly
    }
  }
  if (a.text_rows != nullptr) {
    k::LinearParams lp = adapter_linear(a);
    lp.dy = dv;
    lp.dweight = dadapter;
    k::linear_backward(device, lp);
  }
  if (a.new_item != nullptr && dnew_item != nullptr) {
    k::scatter_add_rows(device, a.new_item_rows, dv, n, d, dnew_item);
  }
}

}  // namespace hybrec::trainer
