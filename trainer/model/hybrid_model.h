// The hybrid recommender of DESIGN.md ("The model"), forward and backward on
// one kernels::Device (the CPU or a CUDA stream), chosen at construction:
//
//   v_j  = m_j * e_j + A t_j          item vector (m_j = 0 when ID dropout drops j)
//   h    = Encoder([v_h1 + p_1, ..., v_hL + p_L], padding mask)
//   s_u  = pool(h)                    masked mean, or the last real position
//   u'   = e_u + s_u
//   z    = u'^T W v_j
//   g    = text_scale * cos(q_u, t_j) q_u = mean of the history items' text vectors
//   z'   = (z + lambda * g) / sqrt(1 + lambda^2)
//   loss = sampled softmax over the C candidates of each example (logQ
//          corrected), or BCE on every candidate.
// Each term exists only when its switch in ModelConfig is on.
//
// Dense parameters live in one flat float array (so the trainer all-reduces
// and checkpoints one buffer); tensors() names its pieces. The id embeddings
// e_u, e_j are NOT dense parameters: the trainer pulls them from the
// parameter server and pushes their gradients back.
//
// Device (DESIGN.md, "One model, any device"): every float array passed to
// or returned by the model (params, user_rows, item_rows, text_emb,
// dense_grad, the row gradients, logits, and every array of the evaluation
// functions) is on the model's device: host memory for Device::cpu(), device
// memory for Device::cuda(stream). Index arrays stay on the host (the Batch,
// and the item ids and histories of the evaluation functions): the model
// builds from them the index arrays its kernels need and uploads each once
// per call (kernels::copy_to_device, which on CUDA also waits for the
// stream). Every step of forward and backward is a kernels op enqueued on
// the device's stream; the host reads back only the loss (one copy per
// call, which on CUDA waits for the stream). On CUDA the other outputs are
// complete once the stream has run up to that point. On CUDA the history
// encoder needs a head dim (dim / heads) that the CUDA attention supports
// (32, 64 or 128; see hybrec/kernels/attention.h).
//
// On the CPU the results are bit for bit those of the model's former host
// loops (the kernels' CPU ops reproduce them; see elementwise.h). CUDA
// against CPU, |cuda - cpu| <= atol + rtol * |cpu| for the tiny model of
// tests/trainer/model (inputs of magnitude <= 1, two encoder layers), stated
// from the kernels' own tolerances (linear 1e-6 * k / 1e-4, layer norm 1e-5,
// attention 1e-5 / 1e-4 forward and 1e-4 / 1e-3 backward, bilinear z 1e-4 /
// 1e-4 and dw 1e-3 / 1e-4) compounded through two blocks with a margin, for
// tests/trainer/model/hybrid_model_gpu_test.cc to check (written where no
// GPU was available: not yet run on one):
//   loss, logits, item vectors, user states, queries, scores
//                                  atol kCudaValueAtol, rtol kCudaValueRtol
//   dense and row gradients        atol kCudaGradAtol, rtol kCudaGradRtol
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hybrec/kernels/device.h"
#include "trainer/model/batch.h"
#include "trainer/model/model_config.h"
#include "trainer/model/param_layout.h"

namespace hybrec::trainer {

struct DenseTensor {
  std::string name;  // e.g. "adapter", "encoder.0.qkv.weight", "bilinear", "lambda"
  int64_t offset = 0;
  int64_t rows = 0;
  int64_t cols = 1;
  int64_t size() const { return rows * cols; }
};

// CUDA-versus-CPU tolerances of the model (see the header comment).
inline constexpr double kCudaValueAtol = 2e-4;
inline constexpr double kCudaValueRtol = 1e-3;
inline constexpr double kCudaGradAtol = 2e-3;
inline constexpr double kCudaGradRtol = 2e-3;

struct ModelActivations;

// Threading: forward_backward and forward_loss reuse one activation struct
// owned by the model (device buffers grow to the largest batch and are never
// freed between steps), guarded by a mutex: concurrent calls on one model are
// safe but run one at a time; use one model (copies are cheap: a copy gets
// its own empty activations on the same device) per concurrent caller. The
// evaluation functions use scratch of their own and may run concurrently
// with anything. Inside a call the CPU kernels use OpenMP/BLAS threads;
// results are bit-identical run to run for a fixed thread count.
class HybridModel {
 public:
  // Validates the config; every array the model reads or writes is on `device`.
  explicit HybridModel(const ModelConfig& config,
                       const kernels::Device& device = kernels::Device::cpu());
  HybridModel(const HybridModel& other);
  HybridModel& operator=(const HybridModel& other);
  HybridModel(HybridModel&&) noexcept;
  HybridModel& operator=(HybridModel&&) noexcept;
  ~HybridModel();

  const ModelConfig& config() const { return config_; }
  const kernels::Device& device() const { return device_; }
  const std::vector<DenseTensor>& tensors() const { return tensors_; }
  int64_t num_params() const { return num_params_; }
  // The tensor called `name`, or nullptr when this configuration has none.
  const DenseTensor* find_tensor(const std::string& name) const;

  // Writes the initial dense parameters (params: a host array), a pure
  // function of (config, seed):
  // linear weights and the adapter xavier-uniform, biases 0, layer norm
  // gamma 1 / beta 0, positions U(-init_scale, init_scale), bilinear W =
  // identity + U(-init_scale, init_scale), text_scale 5, lambda lambda_init.
  void init_params(uint64_t seed, float* params) const;

  // Arrays on the model's device; the batch is a host struct.
  struct StepInputs {
    const Batch* batch = nullptr;
    const float* params = nullptr;     // [num_params()]
    const float* user_rows = nullptr;  // [batch->user_ids.size(), dim]; unused without use_id
    const float* item_rows = nullptr;  // [batch->item_ids.size(), dim]; unused without use_id
    const float* text_emb = nullptr;   // [num_items, text_dim], by global item id; unused
                                       // without text
    int64_t num_text_rows = 0;         // rows of text_emb; > 0: item ids are checked against it
    uint64_t dropout_seed = 0;         // ID dropout draws are a function of (seed, item id)
    // With ID dropout in training: [item_ids.size(), dim] rows that a
    // dropped item takes instead of zero (the trainer's mean of its text
    // neighbours' rows, ModelConfig::unseen_item_neighbors), as constants:
    // no gradient flows into them. Rows of kept items are ignored. nullptr =
    // a dropped item has no id term.
    const float* dropped_item_rows = nullptr;
    bool training = true;              // false: no ID dropout
  };

  struct StepOutputs {
    float* dense_grad = nullptr;      // [num_params()] OVERWRITTEN (gradient of the mean loss)
    float* user_row_grads = nullptr;  // [user_ids.size(), dim] OVERWRITTEN; may be null
    float* item_row_grads = nullptr;  // [item_ids.size(), dim] OVERWRITTEN; may be null
    // Called during the backward with [begin, end) ranges of dense_grad that
    // are final, in decreasing order of offset, covering [0, num_params())
    // exactly once; the trainer starts each bucket's all-reduce from here
    // while the rest of the backward runs. May be empty. On the CPU a range
    // is final when reported; on CUDA it is final once the device's stream
    // reaches the point where it was reported (the kernels writing it are
    // enqueued before the call): order the all-reduce after it on the stream,
    // or synchronise.
    std::function<void(int64_t begin, int64_t end)> grad_ready;
    // Called once, when the forward and backward are enqueued and before
    // the loss is read back: on CUDA the host's work in it (the trainer
    // builds the next batch there) overlaps the GPU's; on the CPU it runs
    // after the backward. May be empty.
    std::function<void()> while_running;
  };

  // Forward and backward of one batch; returns the mean loss.
  float forward_backward(const StepInputs& in, const StepOutputs& out) const;

  // Forward only (validation loss); no dropout. With logits non-null, also
  // writes the fused scores z' [batch->size, batch->candidates] (the values
  // the loss is taken over, before any logQ correction).
  float forward_loss(const StepInputs& in, float* logits = nullptr) const;

  // ---- Full-ranking evaluation: the same functions, per user and per item.
  // Float arrays are on the model's device; item_ids and history are host
  // arrays of global item ids.

  // v_j for n items (no dropout): item_rows [n, dim] (ignored without use_id),
  // their ids index text_emb. unseen (host [n], nullptr = none) flags the
  // items without a trained id row (untrained_rows() of item_rows, in
  // id_tables.h); with ModelConfig::unseen_items = kLearned they take the
  // new-item vector, otherwise the flags are ignored (a zero row adds
  // nothing). Writes out [n, dim].
  void item_vectors(const float* params, int64_t n, const int64_t* item_ids, const float* item_rows,
                    const float* text_emb, const uint8_t* unseen, float* out) const;

  // For n users: u' [n, dim] and the unit text query q_u [n, text_dim] (zero
  // rows when there is no text or no history). user_rows [n, dim] (ignored
  // without use_id); history [n, history_len] global item ids, left-padded
  // with -1; item_vecs [num_items, dim] from item_vectors() over all items.
  void user_states(const float* params, int64_t n, const float* user_rows, const int64_t* history,
                   const float* item_vecs, const float* text_emb, float* user_out,
                   float* query_out) const;

  // scores [n, num_items] = z' of every (user, item) pair, plus
  // ModelConfig::new_item_boost for the items that unseen (host [num_items],
  // as for item_vectors; nullptr = none) flags.
  void score_items(const float* params, int64_t n, const float* users, const float* queries,
                   int64_t num_items, const float* item_vecs, const float* text_emb,
                   const uint8_t* unseen, float* scores) const;

  // How much the history encoder looks at each slot of n users' histories,
  // for explaining a recommendation (trainer/explain), computed with the
  // same forward as user_states (nothing of training changes): weights
  // [n, history_len] is a HOST array, OVERWRITTEN, aligned with `history`
  // (left-padded global item ids, as for user_states; item_vecs on the
  // model's device). The weight of a real slot is the last encoder layer's
  // attention probability softmax(q_i . k_j / sqrt(head_dim)) on it,
  // averaged over the heads and over the query positions the pooling reads
  // (every real position for mean pooling, the most recent one for last
  // pooling). Without attention (use_history off, or 0 layers) every real
  // slot weighs the same. Either way a user's weights sum to 1 over the real
  // slots and are 0 on padding; a user without history gets all zeros.
  void history_weights(const float* params, int64_t n, const int64_t* history,
                       const float* item_vecs, float* weights) const;

 private:
  // scores [n, num_items] (the bilinear z on entry) become z' = (z + lambda
  // * text_scale * cos(q_u, t_j)) / sqrt(1 + lambda^2).
  void fuse_text_scores(const float* params, int64_t n, const float* queries, int64_t num_items,
                        const float* text_emb, float* scores) const;

  ModelConfig config_;
  kernels::Device device_;
  std::vector<DenseTensor> tensors_;
  int64_t num_params_ = 0;
  ParamLayout layout_;
  std::unique_ptr<ModelActivations> acts_;  // training activations, see "Threading"
};

}  // namespace hybrec::trainer
