// Candidate scoring and the loss of a training batch:
//   z[b, c]  = u'_b^T W v_{cand(b, c)}                 (bilinear kernel on B*C pairs)
//   z'[b, c] = (z + lambda * text_scale * cos[b, c]) / sqrt(1 + lambda^2)
//   loss     = sampled softmax over the C columns (column 0 the target), or
//              BCE with label 1 for column 0 and 0 for the others.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/model/grad_ready.h"
#include "trainer/model/model_config.h"
#include "trainer/model/param_layout.h"

namespace hybrec::trainer {

struct ScoringWorkspace {
  std::vector<float> u_pairs, v_pairs;    // [B*C, d] the bilinear kernel's operands
  std::vector<float> z, g, logits;        // [B*C]
  std::vector<float> labels;              // [B*C] BCE labels
  std::vector<float> dlogits, dz, dg;     // [B*C]
  std::vector<float> du_pairs, dv_pairs;  // [B*C, d]
};

struct ScoreArgs {
  int64_t batch = 0, cands = 0, dim = 0;
  const float* users = nullptr;   // [B, d] u'
  const float* items = nullptr;   // [I, d] v of the unique items
  const int32_t* cand = nullptr;  // [B, C] slots into items
  const float* cos = nullptr;     // [B, C] text cosines; nullptr = no text score
};

// Fills ws->logits with z' and returns the mean loss.
float score_and_loss_forward(const ModelConfig& config, const ParamLayout& layout,
                             const float* params, const ScoreArgs& a, const float* log_q,
                             ScoringWorkspace* ws);

// Backward of the mean loss. Accumulates into grad (text_scale, lambda,
// bilinear; reported through `ready`), OVERWRITES dusers [B, d] and
// ACCUMULATES ditems [I, d] (the candidate path of the item gradients).
void score_and_loss_backward(const ModelConfig& config, const ParamLayout& layout,
                             const float* params, const ScoreArgs& a, const float* log_q,
                             ScoringWorkspace* ws, float* grad, GradReadyTracker* ready,
                             float* dusers, float* ditems);

}  // namespace hybrec::trainer
