// The history path: x_l = v_{h_l} + p_l over the real (non-padded) slots of
// the B x L history, `layers` transformer blocks (trainer/nn) on those packed
// rows (each example attends over its own real positions; see
// trainer/nn/packed_rows.h), and pooling into s_u (masked mean or last real
// position; 0 without real positions). The blocks run on the CPU backend.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/model/grad_ready.h"
#include "trainer/model/model_config.h"
#include "trainer/model/param_layout.h"
#include "trainer/nn/packed_rows.h"
#include "trainer/nn/transformer_block.h"

namespace hybrec::trainer {

// Buffers of one history pass, reused across calls (they only grow).
struct HistoryWorkspace {
  // Packed rows: the examples grouped by their number of real positions
  // (shortest first, then by example), each example's rows in slot order.
  std::vector<int64_t> row_slot;     // [R] slot b * L + l of each row
  std::vector<int64_t> example_row;  // [B] first row of example b
  std::vector<int64_t> example_len;  // [B] its number of real positions
  std::vector<nn::LengthGroup> groups;
  std::vector<int64_t> next_row;             // [L + 1] scratch of history_inputs
  std::vector<float> x0;                     // [R, d] encoder input
  std::vector<nn::BlockActivations> layers;  // one per encoder layer
  nn::BlockBackwardScratch scratch;
  std::vector<float> dx;  // [R, d] gradient of the current layer's output / input
  nn::PackedRows packed() const {
    return {static_cast<int64_t>(row_slot.size()), groups.data(),
            static_cast<int64_t>(groups.size())};
  }
};

// Builds the packed rows and ws->x0: x0[r] = vecs[hist[b, l]] + positions[l]
// for the slot (b, l) of row r; slots with hist[b, l] < 0 are padding. Index
// is int32_t (slots of a Batch) or int64_t (global item ids at evaluation).
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

// Scatter of ws->dx into dvecs[hist[b, l]] += dx[r] and dpositions[l] +=
// dx[r] over the real slots (b, l) (ACCUMULATED, in slot order: deterministic).
void history_inputs_backward(int64_t batch, int64_t len, int64_t dim, const int32_t* hist,
                             const HistoryWorkspace& ws, float* dvecs, float* dpositions);

}  // namespace hybrec::trainer
