// Where each dense tensor of the hybrid model lives in the flat parameter
// buffer. The buffer is laid out in forward order (new item, adapter, positions,
// encoder layers, bilinear W, text scale, lambda), so the backward finishes
// the gradients from the end of the buffer towards its start, which is the
// order HybridModel::StepOutputs::grad_ready reports them in.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/model/model_config.h"

namespace hybrec::trainer {

struct DenseTensor;

// Offsets of one post-norm encoder layer's tensors, in layout order.
// Linear weights are [out, in] (PyTorch's nn.Linear layout); the fused QKV
// weight is [3 * dim, dim] with the Q rows first, then K, then V.
struct EncoderLayerOffsets {
  int64_t qkv_w = 0, qkv_b = 0;    // [3d, d], [3d]
  int64_t out_w = 0, out_b = 0;    // [d, d], [d]
  int64_t ln1_g = 0, ln1_b = 0;    // [d], [d]
  int64_t ffn1_w = 0, ffn1_b = 0;  // [F, d], [F]
  int64_t ffn2_w = 0, ffn2_b = 0;  // [d, F], [d]
  int64_t ln2_g = 0, ln2_b = 0;    // [d], [d]
};

// -1 marks a tensor the configuration does not have.
struct ParamLayout {
  int64_t new_item = -1;                    // [d] when use_id and unseen_items = learned
  int64_t adapter = -1;                     // [d, T] when use_text
  int64_t positions = -1;                   // [L, d] when use_history
  std::vector<EncoderLayerOffsets> layers;  // when use_history
  int64_t bilinear = -1;                    // [d, d], always
  int64_t text_scale = -1;                  // [1] when use_text_score
  int64_t lambda = -1;                      // [1] when use_text_score
  int64_t total = 0;
};

// Builds the layout and the named tensor list (names as in the checkpoint:
// "new_item", "adapter", "positions", "encoder.<k>.qkv.weight", ..., "bilinear",
// "text_scale", "lambda").
ParamLayout make_param_layout(const ModelConfig& config, std::vector<DenseTensor>* tensors);

// The FFN's hidden width.
inline int64_t ffn_hidden(const ModelConfig& config) { return config.ffn_mult * config.dim; }

}  // namespace hybrec::trainer
