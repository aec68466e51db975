// A BERT-family sentence encoder in the Hugging Face directory layout:
//   config.json                   the architecture (model_type bert, absolute
//                                 positions, exact-erf GELU)
//   vocab.txt, tokenizer_config.json  the WordPiece vocabulary and its settings
//   model.safetensors             the weights (fp32, fp16 or bf16)
//   sentence_bert_config.json     optional: max_seq_length
//   modules.json, 1_Pooling/config.json  optional (sentence-transformers):
//                                 pooling mode and whether a Normalize module
//                                 follows; without them: mean pooling, L2
//                                 normalisation.
// read_bert_config validates what hybrec needs and names the file and key of
// anything missing, mistyped or unsupported.
#pragma once

#include <cstdint>
#include <string>

#include "trainer/text/wordpiece.h"

namespace hybrec::text {

enum class Pooling { kMean, kCls, kMax };

struct BertConfig {
  std::string dir;
  int64_t vocab_size = 0;
  int64_t hidden = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t intermediate = 0;
  int64_t max_positions = 0;    // position embeddings
  int64_t type_vocab_size = 0;  // token type embeddings (type 0 is used)
  float layer_norm_eps = 1e-12f;
  int64_t max_seq_length = 0;  // tokens per text, [CLS] and [SEP] included
  Pooling pooling = Pooling::kMean;
  bool normalize = true;
  TokenizerOptions tokenizer;
};

BertConfig read_bert_config(const std::string& model_dir);

const char* pooling_name(Pooling pooling);

}  // namespace hybrec::text
