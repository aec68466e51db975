// A BERT sentence encoder computed on hybrec's kernels library: token, position
// and type embeddings with layer norm; per layer multi-head self-attention,
// output projection, residual and layer norm, exact-erf GELU feed-forward,
// residual and layer norm (post-norm, as BERT); then pooling over the real
// tokens (mean, [CLS] or max, as the model directory says) and L2
// normalisation when it has a Normalize module.
//
// Batches are packed: the tokens of all texts of a batch are the rows of one
// [tokens, hidden] matrix, so every dense layer runs on real tokens only and
// nothing is padded. encode() sorts the texts by token count, so the texts
// of a batch have close lengths and those of equal length are adjacent:
// attention runs once per run of equal length, as one batch with no mask.
// The layers are the shared transformer block (trainer/nn, its inference
// forward, run in place on the token rows). Every step is a kernels-library
// op (embedding bags for the embedding sum and the mean pooling, the block's
// ops for the layers), so the same code runs on the CPU and the CUDA
// backend; only index arrays and the pooled rows cross to the host.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hybrec/kernels/device.h"
#include "trainer/text/bert_config.h"
#include "trainer/text/wordpiece.h"

namespace hybrec::text {

struct BertWeights;    // bert_encoder.cc
struct BertWorkspace;  // bert_encoder.cc

class BertEncoder {
 public:
  // Reads the config, the vocabulary and every weight (onto `device`);
  // throws naming the file and tensor of anything missing or misshapen, or
  // when the device's backend is not available.
  explicit BertEncoder(const std::string& model_dir,
                       const kernels::Device& device = kernels::Device::cpu());
  ~BertEncoder();
  BertEncoder(const BertEncoder&) = delete;
  BertEncoder& operator=(const BertEncoder&) = delete;

  const BertConfig& config() const { return config_; }
  const WordPieceTokenizer& tokenizer() const { return tokenizer_; }
  int64_t dim() const { return config_.hidden; }

  // Called after each batch with (texts done, texts in all).
  using Progress = std::function<void(int64_t, int64_t)>;

  // out[texts.size(), dim()] (row i = texts[i]), in batches of batch_size.
  void encode(const std::vector<std::string>& texts, int64_t batch_size, float* out,
              const Progress& progress = nullptr) const;
  std::vector<float> encode_one(const std::string& text) const;

  // One batch of token id sequences ([CLS] ... [SEP], each at most
  // config().max_positions long, of any lengths); out[seqs.size(), dim()].
  void encode_ids(const std::vector<std::vector<int32_t>>& seqs, float* out) const;

 private:
  void forward(const std::vector<std::vector<int32_t>>& seqs, float* out,
               BertWorkspace& workspace) const;

  BertConfig config_;
  WordPieceTokenizer tokenizer_;
  kernels::Device device_;
  std::unique_ptr<BertWeights> weights_;
};

}  // namespace hybrec::text
