// The item tower: v_j = m_j * e_j + A t_j (+ e_new for the rows that stand
// for an item without its id row) for a set of items, with its backward
// into the id rows, the new-item vector and the adapter A, on the model's
// device.
#pragma once

#include <cstdint>
#include <vector>

#include "hybrec/kernels/device.h"
#include "hybrec/kernels/elementwise.h"

namespace hybrec::trainer {

// DropoutNet's ID dropout: 0 when item_id's id embedding is dropped for this
// dropout_seed (probability p), else 1. A pure function of its arguments
// (the model evaluates it on the host and uploads the mask).
float id_keep(uint64_t dropout_seed, int64_t item_id, float p);

// out[i, :] = text_emb[ids[i], :] for i < n (T floats per row), on the
// device. host_ids and device_ids hold the same n ids: the host copy is
// checked (with num_text_rows > 0, against [0, num_text_rows); else only the
// sign), so a bad id is reported as the item id it is.
void gather_text_rows(const kernels::Device& device, int64_t n, int64_t text_dim,
                      const int64_t* host_ids, const int64_t* device_ids, const float* text_emb,
                      int64_t num_text_rows, float* out);

struct ItemTowerArgs {
  int64_t n = 0;    // items
  int64_t dim = 0;  // d
  int64_t text_dim = 0;
  const float* id_rows = nullptr;    // [n, d] e_j; nullptr = no id term
  const float* keep = nullptr;       // [n] m_j; nullptr = all 1
  // What a dropped row (m_j = 0) brings instead of e_j: [n, d] rows, added
  // where drop [n] (= 1 - m_j) is 1, with no gradient (constants, e.g. the
  // mean of the item's text neighbours' rows); nullptr = nothing (zero).
  const float* dropped_rows = nullptr;
  const float* drop = nullptr;
  const float* text_rows = nullptr;  // [n, T] t_j; nullptr = no text term
  const float* adapter = nullptr;    // [d, T] A (a linear weight, out = d, in = T)
  // The learned new-item vector e_new [d] and, per row, 0 where the row
  // takes it (an item dropped or without a trained row) and -1 elsewhere
  // ([n], on the device); nullptr = no such term. new_item_rows is the
  // backward's scatter of those rows into e_new's one row
  // (kernels::make_row_scatter of new_item_index, dst_rows 1).
  const float* new_item = nullptr;
  const int64_t* new_item_index = nullptr;
  kernels::RowScatter new_item_rows;
};

// out [n, d] = m * e + (1 - m) * dropped_rows + A t (+ e_new where
// new_item_index is 0) (OVERWRITTEN).
void item_tower_forward(const kernels::Device& device, const ItemTowerArgs& a, float* out);

// Given dv [n, d]: id_row_grads [n, d] = m * dv (OVERWRITTEN; nullptr skips;
// zeros without an id term), dadapter [d, T] += dv^T t (ACCUMULATED; used
// only with a text term) and dnew_item [d] += the sum of dv over the rows
// that take e_new (ACCUMULATED; used only with a new-item term).
void item_tower_backward(const kernels::Device& device, const ItemTowerArgs& a, const float* dv,
                         float* id_row_grads, float* dadapter, float* dnew_item);

// The rows of a tower that take e_new: those whose keep is 0 (index 0),
// the others -1; keep may be empty (no row takes it). Host arrays.
void new_item_index(const std::vector<float>& keep, std::vector<int64_t>* index);

}  // namespace hybrec::trainer
