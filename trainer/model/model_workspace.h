// The training step's activations, owned by HybridModel and reused across
// steps: one struct of kernels::Buffers on the model's device (grown to the
// largest batch, never freed between steps, so a step allocates no device
// memory once that batch has been seen), plus the host index arrays built
// from each Batch before their one upload per step.
#pragma once

#include <mutex>
#include <vector>

#include "hybrec/kernels/device.h"
#include "hybrec/kernels/elementwise.h"
#include "trainer/model/device_arrays.h"
#include "trainer/model/history_encoder.h"
#include "trainer/model/scoring.h"

namespace hybrec::trainer {

// Index arrays of one step, built on the host from the Batch.
struct StepIndexArrays {
  std::vector<int64_t> item_ids;   // [I] the batch's item ids (text rows to gather)
  std::vector<int64_t> user_slot;  // [B] widened Batch::user_slot
  std::vector<int64_t> cand;       // [B*C] widened Batch::cand_slot
  std::vector<int64_t> pair_user;  // [B*C] b of pair b * C + c
  std::vector<float> keep;         // [I] ID dropout mask
  std::vector<float> drop;         // [I] 1 - keep, with StepInputs::dropped_item_rows
  std::vector<int64_t> new_item;   // [I] 0 where a dropped item takes e_new, else -1
  std::vector<float> labels;       // [B*C] BCE labels
  kernels::HostRowScatter pairs_to_users, pairs_to_items, users_to_rows, query, new_item_rows;
  HistoryPacking history;
};

struct ModelActivations {
  // The step's kernels run without their own index checks: every index
  // array here is built by the model from a Batch that check_inputs has
  // validated (and text ids are checked on the host), so a second pass over
  // each array in every op would only cost time (and, on CUDA, a
  // synchronisation per check).
  explicit ModelActivations(const kernels::Device& d) : device(d) { device.check_bounds = false; }

  kernels::Device device;
  std::mutex mutex;  // one forward_backward / forward_loss at a time
  StepIndexArrays host;

  // Device copies of the index arrays.
  kernels::Buffer<int64_t> item_ids, user_slot, cand, pair_user, new_item;
  kernels::Buffer<float> keep, drop, labels, log_q;
  DeviceScatter pairs_to_users, pairs_to_items, users_to_rows, query, new_item_rows;

  kernels::Buffer<float> text_rows;  // [I, T] text vectors of the unique items
  kernels::Buffer<float> text_inv;   // [I] their inverse norms
  kernels::Buffer<float> item_vecs;  // [I, d] v_j
  kernels::Buffer<float> users;      // [B, d] u'
  kernels::Buffer<float> queries;    // [B, T] q_u
  kernels::Buffer<float> query_inv;  // [B] inverse norms of the query sums
  kernels::Buffer<float> pair_inv;   // [B*C] text_inv of each pair's candidate
  kernels::Buffer<float> cos;        // [B*C] cos(q_u, t_cand)
  kernels::Buffer<float> dusers;     // [B, d]
  kernels::Buffer<float> ditems;     // [I, d]
  HistoryActivations history;
  ScoringActivations scoring;
};

}  // namespace hybrec::trainer
