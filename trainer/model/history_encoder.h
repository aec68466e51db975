// The history path: x_l = v_{h_l} + p_l over the B x L history slots (padded
// slots are zero and masked as keys), `layers` encoder layers, and pooling
// into s_u (masked mean or last real position; 0 without real positions).
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/model/encoder_layer.h"
#include "trainer/model/grad_ready.h"
#include "trainer/model/model_config.h"
#include "trainer/model/param_layout.h"

namespace hybrec::trainer {

// Buffers of one history pass, reused across calls (they only grow).
struct HistoryWorkspace {
  std::vector<uint8_t> mask;  // [B, L] nonzero = padded
  std::vector<float> x0;      // [B*L, d] encoder input
  std::vector<EncoderLayerCache> layers;
  EncoderBackwardScratch scratch;
  std::vector<float> dx;  // [B*L, d] gradient of the current layer's output / input
};

// Builds ws->x0 and ws->mask: x0[b, l] = vecs[hist[b, l]] + positions[l],
// zero where hist[b, l] < 0. Index is int32_t (slots of a Batch) or int64_t
// (global item ids at evaluation).
template <typename Index>
void history_inputs(int64_t batch, int64_t len, int64_t dim, const Index* hist, const float* vecs,
                    const float* positions, HistoryWorkspace* ws);

// Runs the encoder over ws->x0 and pools into pooled [batch, d] (OVERWRITTEN).
void history_encoder_forward(const ModelConfig& config, const ParamLayout& layout,
                             const float* params, int64_t batch, HistoryWorkspace* ws,
                             float* pooled);

// Given dpooled [batch, d]: accumulates the encoder's parameter gradients
// into grad, reporting each layer through `ready` as it finishes, and leaves
// the gradient of x0 in ws->dx.
void history_encoder_backward(const ModelConfig& config, const ParamLayout& layout,
                              const float* params, int64_t batch, const float* dpooled, float* grad,
                              GradReadyTracker* ready, HistoryWorkspace* ws);

// Scatter of ws->dx into dvecs[hist[b, l]] += dx[b, l] and dpositions[l] +=
// dx[b, l] over real slots (ACCUMULATED, in slot order: deterministic).
void history_inputs_backward(int64_t batch, int64_t len, int64_t dim, const int32_t* hist,
                             const HistoryWorkspace& ws, float* dvecs, float* dpositions);

}  // namespace hybrec::trainer
