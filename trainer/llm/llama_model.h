// A Llama-architecture decoder (SmolLM2, Llama 2/3 shapes) run from a GGUF
// file with its weights left quantised in the file's mapping: every linear
// layer is a kernels::quant_matmul over the file's blocks (Q4_1, Q8_0, F16
// or F32 rows), so loading copies only the norm weights.
//
// The block, as llama.cpp runs LLM_ARCH_LLAMA:
//   h = x + Wo * attn(rope(Wq * rms(x)), rope(Wk * rms(x)), Wv * rms(x))
//   y = h + Wdown * (silu(Wgate * rms(h)) * (Wup * rms(h)))
// rms(x) = x / sqrt(mean(x^2) + eps) * gamma (eps from
// llama.attention.layer_norm_rms_epsilon); no biases. Attention is causal
// and grouped: query head h reads key/value head h / (heads / kv_heads).
// RoPE is ggml's "normal" mode, the one llama.cpp uses for LLM_ARCH_LLAMA:
// pairs of consecutive values (2i, 2i + 1) of each head rotate by
// pos * freq_base^(-2i / rope_dim). (The GGUF converter permutes the Hugging
// Face q/k weights so that this equals HF's rotate-half form.) The logits are
// output.weight * rms(x), or token_embd.weight when output.weight is absent
// (tied embeddings).
//
// It runs on the CPU (host memory, Device::cpu()). Each prefill or step is
// one OpenMP region over the team of omp_get_max_threads() threads
// (llama_session.cc says how the work is split); the numerics follow
// llama.cpp's CPU backend, int8 activations in the Q8_0/Q4_1 products
// included (hybrec/kernels/quant_matmul.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hybrec/kernels/quant_matmul.h"
#include "trainer/text/gguf.h"

namespace hybrec::llm {

// The hyperparameters, from the file's llama.* metadata.
struct LlamaConfig {
  int64_t layers = 0;           // llama.block_count
  int64_t dim = 0;              // llama.embedding_length
  int64_t heads = 0;            // llama.attention.head_count
  int64_t kv_heads = 0;         // llama.attention.head_count_kv (default: heads)
  int64_t head_dim = 0;         // dim / heads
  int64_t ffn = 0;              // llama.feed_forward_length
  int64_t vocab = 0;            // rows of token_embd.weight
  int64_t context_length = 0;   // llama.context_length
  int64_t rope_dim = 0;         // llama.rope.dimension_count (default: head_dim)
  float rope_theta = 10000.0f;  // llama.rope.freq_base (default 10000)
  float rms_eps = 1e-5f;        // llama.attention.layer_norm_rms_epsilon
};

// Reads and checks the metadata: general.architecture must be "llama" (the
// error names the file's architecture), the sizes positive and consistent.
LlamaConfig read_llama_config(const text::GgufFile& file);

// One weight matrix [out, in] as GGUF rows, pointing into the mapping.
struct QuantWeight {
  kernels::QuantType type = kernels::QuantType::kF32;
  const void* data = nullptr;
  int64_t in = 0;
  int64_t out = 0;
};

class LlamaModel {
 public:
  struct Layer {
    std::vector<float> attn_norm, ffn_norm;  // [dim]
    QuantWeight q, k, v, o, gate, up, down;
  };

  // Validates the architecture, every tensor's presence, shape and type (one
  // of F32, F16, Q8_0, Q4_1; errors name the tensor), and keeps pointers
  // into `file`, which must outlive the model.
  explicit LlamaModel(const text::GgufFile& file);

  const LlamaConfig& config() const { return config_; }
  const std::vector<Layer>& layers() const { return layers_; }
  const QuantWeight& token_embedding() const { return token_embd_; }
  const QuantWeight& output() const { return output_; }  // token_embd when tied
  bool tied_embeddings() const { return tied_; }
  const std::vector<float>& output_norm() const { return output_norm_; }

  // Row `token` of the embedding, dequantised, into out[0, dim).
  void embed(int32_t token, float* out) const;

 private:
  LlamaConfig config_;
  std::vector<Layer> layers_;
  QuantWeight token_embd_, output_;
  bool tied_ = false;
  std::vector<float> output_norm_;
};

// One sequence being decoded: the per-layer key/value cache (host memory,
// grown as the sequence grows) and the scratch of the forward. The model must
// outlive the session.
//
//   LlamaSession s(model);
//   auto logits = s.prefill(prompt);    // logits [vocab] of the last token
//   logits = s.step(next);              // one more token
//
// Positions run from 0 at the first prefilled token. A sequence may not
// exceed llama.context_length tokens (or the smaller max_len given): the
// call that would exceed it throws naming the limit and changes nothing; the
// caller truncates. Token ids outside [0, vocab) throw naming the id.
class LlamaSession {
 public:
  // max_len 0 = the model's context_length.
  explicit LlamaSession(const LlamaModel& model, int64_t max_len = 0);

  // Clears the cache, runs `tokens` (at least one) from position 0, returns
  // the logits of the last.
  std::vector<float> prefill(const std::vector<int32_t>& tokens);
  // Appends one token, returns its logits.
  std::vector<float> step(int32_t token);
  // Appends tokens (at least one) after the cache, returns the logits of the
  // last. A token's arithmetic does not depend on which call runs it, so
  // prefill(a + b) and prefill(a) then extend(b) give the same bits.
  std::vector<float> extend(const std::vector<int32_t>& tokens);
  // Takes the keys and values of other's first n cached tokens as its own
  // cache (a prompt prefix computed once, reused).
  void copy_prefix_from(const LlamaSession& other, int64_t n);
  // Runs several continuations (branches, each at least one token) of the
  // cached tokens in one forward: every branch sees the cache and its own
  // earlier tokens only, at positions length(), length() + 1, ... Returns
  // the logits of every token, branches one after another, [sum of sizes,
  // vocab] row-major (row t predicts the token after token t). The cache is
  // left as it was. Positions must stay within the context; the branches'
  // keys and values take cache rows while the call runs.
  std::vector<float> extend_branches(const std::vector<std::vector<int32_t>>& branches);
  // Tokens in the cache.
  int64_t length() const { return length_; }
  int64_t max_len() const { return max_len_; }
  void reset() { length_ = 0; }

 private:
  // Runs tokens[0, n) after the cache and returns the logits of the last.
  // With branch_start (per token, the index in tokens[] where its branch
  // begins), token t sits at position length() + t - branch_start[t] and
  // attends to the cache and to tokens [branch_start[t], t]; the logits of
  // every token are returned and the cache keeps its old length.
  std::vector<float> forward(const int32_t* tokens, int64_t n,
                             const int64_t* branch_start = nullptr);

  const LlamaModel& model_;
  int64_t max_len_ = 0;
  int64_t length_ = 0;
  std::vector<std::vector<float>> k_cache_, v_cache_;  // per layer [len, kv_heads * head_dim]
  float rope_scale_ = 1.0f;                            // freq_base^(-2 / rope_dim)
};

}  // namespace hybrec::llm
