// The history path: x_l = v_{h_l} + p_l over the real (non-padded) slots of
// the B x L history, `layers` transformer blocks (trainer/nn) on those packed
// rows (each example attends over its own real positions; see
// trainer/nn/packed_rows.h), and pooling into s_u (masked mean or last real
// position; 0 without real positions). The packing is built on the host from
// the history's index array; every op runs on the model's device.
#pragma once

#include <cstdint>
#include <vector>

#include "hybrec/kernels/device.h"
#include "hybrec/kernels/elementwise.h"
#include "trainer/model/device_arrays.h"
#include "trainer/model/grad_ready.h"
#include "trainer/model/model_config.h"
#include "trainer/model/param_layout.h"
#include "trainer/nn/packed_rows.h"
#include "trainer/nn/transformer_block.h"

namespace hybrec::trainer {

// The packing of one history batch, as host index arrays. Rows are the
// examples grouped by their number of real positions (shortest first, then
// by example), each example's rows in slot order; a "sequence" is an
// example in that order, the examples without history first (empty).
struct HistoryPacking {
  std::vector<nn::LengthGroup> groups;
  std::vector<int64_t> example_len;  // [B] real positions of example b
  std::vector<int64_t> example_row;  // [B] its first row
  std::vector<int64_t> next_row;     // [L + 1] scratch: next free row per length
  std::vector<int64_t> next_seq;     // [L + 1] scratch: next free sequence per length
  std::vector<int64_t> row_vec;      // [R] the vector row (item slot or id) of each row
  std::vector<int64_t> row_pos;      // [R] its position l
  std::vector<int64_t> seq_offsets;  // [B + 1] rows of each sequence
  std::vector<int64_t> seq_example;  // [B] the example of sequence s
  std::vector<int64_t> example_seq;  // [B] the sequence of example b
  std::vector<int64_t> last_row;     // [B] row of the most recent slot (L - 1), or -1
  std::vector<int64_t> row_last;     // [R] b when row is example b's last_row, else -1
  std::vector<int64_t> visit_row;    // [R] rows in order of example, then slot
  std::vector<int64_t> visit_dst;    // [R] scratch of the backward scatters
  kernels::HostRowScatter to_vecs, to_positions;  // backward: rows into vectors / positions
  int64_t rows = 0;
  nn::PackedRows packed() const {
    return {rows, groups.data(), static_cast<int64_t>(groups.size())};
  }
};

// Builds the packing of hist [batch, len] (entries < 0 are padding). Index is
// int32_t (slots of a Batch) or int64_t (global item ids at evaluation).
// With backward, also the scatters of the input gradients into num_vecs
// vectors and len positions, in the order of example, then slot.
template <typename Index>
void pack_history(int64_t batch, int64_t len, const Index* hist, bool backward, int64_t num_vecs,
                  HistoryPacking* p);

// The history's device arrays: the packing's index arrays and the encoder's
// activations, grown to the largest batch seen.
struct HistoryActivations {
  kernels::Buffer<int64_t> row_vec, row_pos, seq_offsets, seq_example, example_seq, last_row,
      row_last;
  DeviceScatter to_vecs, to_positions;
  kernels::Buffer<float> x0;       // [R, d] encoder input
  kernels::Buffer<float> seq_out;  // [B, d] pooled, in sequence order (mean pooling)
  kernels::Buffer<float> dx;       // [R, d] gradient of the current layer's output / input
  std::vector<nn::BlockActivations> layers;  // one per encoder layer
  nn::BlockBackwardScratch scratch;
};

// Uploads the packing's arrays (those the pooling and, with backward, the
// backward need). Apart from history_inputs so that a training step stages
// all its indices before it enqueues any kernel.
void upload_history_packing(const kernels::Device& device, const ModelConfig& config,
                            const HistoryPacking& p, bool backward, int64_t num_vecs,
                            HistoryActivations* ws);

// After upload_history_packing: builds
// ws->x0[r] = vecs[row_vec[r]] + positions[row_pos[r]]. vecs [num_vecs, d]
// on the device.
void history_inputs(const kernels::Device& device, const ModelConfig& config,
                    const HistoryPacking& p, int64_t num_vecs, const float* vecs,
                    const float* positions, HistoryActivations* ws);

// Runs the encoder over ws->x0 and pools into pooled [batch, d] (OVERWRITTEN).
void history_encoder_forward(const kernels::Device& device, const ModelConfig& config,
                             const ParamLayout& layout, const float* params,
                             const HistoryPacking& p, HistoryActivations* ws, float* pooled);

// Given dpooled [batch, d]: accumulates the encoder's parameter gradients
// into grad, reporting each layer through `ready` as it finishes, and leaves
// the gradient of x0 in ws->dx.
void history_encoder_backward(const kernels::Device& device, const ModelConfig& config,
                              const ParamLayout& layout, const float* params,
                              const HistoryPacking& p, const float* dpooled, float* grad,
                              GradReadyTracker* ready, HistoryActivations* ws);

// Scatter of ws->dx into dvecs[row_vec[r]] += dx[r] and dpositions[row_pos[r]]
// += dx[r] (ACCUMULATED, in order of example, then slot: deterministic).
void history_inputs_backward(const kernels::Device& device, int64_t dim, const HistoryPacking& p,
                             const HistoryActivations& ws, float* dvecs, float* dpositions);

}  // namespace hybrec::trainer
