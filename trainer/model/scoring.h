// Candidate scoring and the loss of a training batch, on the model's device:
//   z[b, c]  = u'_b^T W v_{cand(b, c)}                 (bilinear kernel on B*C pairs)
//   z'[b, c] = (z + lambda * text_scale * cos[b, c]) / sqrt(1 + lambda^2)
//   loss     = sampled softmax over the C columns (column 0 the target), or
//              BCE with label 1 for column 0 and 0 for the others.
#pragma once

#include <cstdint>

#include "hybrec/kernels/device.h"
#include "hybrec/kernels/elementwise.h"
#include "trainer/model/grad_ready.h"
#include "trainer/model/model_config.h"
#include "trainer/model/param_layout.h"

namespace hybrec::trainer {

// The scoring's activations, on the model's device (grown, never shrunk).
struct ScoringActivations {
  kernels::Buffer<float> u_pairs, v_pairs;    // [B*C, d] the bilinear kernel's operands
  kernels::Buffer<float> z, g, logits;        // [B*C]
  kernels::Buffer<float> dlogits, dz, dg;     // [B*C]
  kernels::Buffer<float> du_pairs, dv_pairs;  // [B*C, d]
  kernels::Buffer<float> loss;                // [1] the mean loss, written by the loss kernel
};

// Every array is on the device.
struct ScoreArgs {
  int64_t batch = 0, cands = 0, dim = 0;
  int64_t num_items = 0;
  const float* users = nullptr;        // [B, d] u'
  const float* items = nullptr;        // [I, d] v of the unique items
  const int64_t* pair_user = nullptr;  // [B*C] b of pair i = b * C + c
  const int64_t* cand = nullptr;       // [B*C] slots into items
  const float* cos = nullptr;          // [B*C] text cosines; nullptr = no text score
  const float* log_q = nullptr;        // [B*C] logQ correction; nullptr = none
  const float* labels = nullptr;       // [B*C] BCE labels (BCE only)
  // Backward: the pairs' gradients scattered into users and items, in order
  // of the pair (kernels::make_row_scatter of pair_user and of cand).
  kernels::RowScatter to_users, to_items;
};

// Fills ws->logits with z' and ws->loss[0] with the mean loss.
void score_and_loss_forward(const kernels::Device& device, const ModelConfig& config,
                            const ParamLayout& layout, const float* params, const ScoreArgs& a,
                            ScoringActivations* ws);

// Backward of the mean loss. Accumulates into grad (text_scale, lambda,
// bilinear; reported through `ready`), OVERWRITES dusers [B, d] and
// ACCUMULATES ditems [I, d] (the candidate path of the item gradients).
void score_and_loss_backward(const kernels::Device& device, const ModelConfig& config,
                             const ParamLayout& layout, const float* params, const ScoreArgs& a,
                             ScoringActivations* ws, float* grad, GradReadyTracker* ready,
                             float* dusers, float* ditems);

}  // namespace hybrec::trainer
