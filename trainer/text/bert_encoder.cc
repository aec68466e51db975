#include "trainer/text/bert_encoder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "hybrec/kernels/dense.h"
#include "hybrec/kernels/embedding.h"
#include "hybrec/kernels/error.h"
#include "trainer/nn/packed_rows.h"
#include "trainer/nn/transformer_block.h"
#include "trainer/text/safetensors.h"

namespace hybrec::text {

namespace k = hybrec::kernels;

using Tensor = k::Buffer<float>;

// A weight and its bias: a linear layer's, or a layer norm's gamma and beta.
struct Affine {
  Tensor weight, bias;
};

struct LayerWeights {
  Affine query, key, value, attention_out, attention_norm;
  Affine ffn_in, ffn_out, output_norm;
};

struct BertWeights {
  // Rows [0, vocab): word embeddings; rows vocab + p: position p's embedding
  // plus token type 0's, so one bag of two rows per token is its input.
  Tensor embeddings;
  Affine embedding_norm;
  std::vector<LayerWeights> layers;
};

namespace {

// BERT's layers are the shared post-norm block, bidirectional, with the
// config's layer-norm epsilon.
nn::BlockShape block_shape(const BertConfig& c) {
  nn::BlockShape s;
  s.dim = c.hidden;
  s.heads = c.heads;
  s.hidden = c.intermediate;
  s.eps = c.layer_norm_eps;
  s.causal = false;
  return s;
}

nn::BlockWeights block_weights(const LayerWeights& l) {
  nn::BlockWeights w;
  w.q_w = l.query.weight.data();
  w.q_b = l.query.bias.data();
  w.k_w = l.key.weight.data();
  w.k_b = l.key.bias.data();
  w.v_w = l.value.weight.data();
  w.v_b = l.value.bias.data();
  w.out_w = l.attention_out.weight.data();
  w.out_b = l.attention_out.bias.data();
  w.ln1_g = l.attention_norm.weight.data();
  w.ln1_b = l.attention_norm.bias.data();
  w.ffn1_w = l.ffn_in.weight.data();
  w.ffn1_b = l.ffn_in.bias.data();
  w.ffn2_w = l.ffn_out.weight.data();
  w.ffn2_b = l.ffn_out.bias.data();
  w.ln2_g = l.output_norm.weight.data();
  w.ln2_b = l.output_norm.bias.data();
  return w;
}

}  // namespace

// The device arrays of a forward. encode() sizes them once for its largest
// batch and reuses them for every batch: no allocation per batch (on CUDA
// one would synchronise).
struct BertWorkspace {
  int64_t tokens = 0, texts = 0;  // capacity
  Tensor hidden;                  // [tokens, H]: the stream, updated in place by each layer
  Tensor pooled;
  nn::BlockInferenceScratch block;
  k::Buffer<int64_t> token_rows, token_ends, token_ids, starts;

  void reserve(const k::Device& d, const BertConfig& c, int64_t n, int64_t b) {
    if (n > tokens) {
      tokens = n;
      hidden = Tensor(d, static_cast<std::size_t>(n * c.hidden));
      block.reserve(d, block_shape(c), n);
      token_rows = k::Buffer<int64_t>(d, static_cast<std::size_t>(2 * n));
      token_ends = k::Buffer<int64_t>(d, static_cast<std::size_t>(n + 1));
      token_ids = k::Buffer<int64_t>(d, static_cast<std::size_t>(n));
    }
    if (b > texts) {
      texts = b;
      pooled = Tensor(d, static_cast<std::size_t>(b * c.hidden));
      starts = k::Buffer<int64_t>(d, static_cast<std::size_t>(b + 1));
    }
  }
};

namespace {

// Hugging Face names BertModel's tensors "embeddings...", "encoder.layer.N...";
// task models (BertForMaskedLM, ...) prefix them with "bert.".
std::string weight_prefix(const SafeTensors& st) {
  if (st.has("embeddings.word_embeddings.weight")) return "";
  if (st.has("bert.embeddings.word_embeddings.weight")) return "bert.";
  HYBREC_THROW("safetensors file ", st.path(),
               ": no embeddings.word_embeddings.weight (nor bert.embeddings...): not a BERT "
               "checkpoint");
}

std::unique_ptr<BertWeights> load_weights(const BertConfig& c, const k::Device& device) {
  const SafeTensors st((std::filesystem::path(c.dir) / "model.safetensors").string());
  const std::string p = weight_prefix(st);
  const int64_t H = c.hidden, I = c.intermediate;
  // NAME.weight [out(, in)] and NAME.bias [out]; a layer norm's is [H] and [H].
  auto affine = [&](const std::string& name, std::vector<int64_t> weight_shape) {
    const int64_t out = weight_shape.front();
    return Affine{Tensor(device, st.read_f32(name + ".weight", weight_shape)),
                  Tensor(device, st.read_f32(name + ".bias", {out}))};
  };
  auto w = std::make_unique<BertWeights>();
  std::vector<float> table =
      st.read_f32(p + "embeddings.word_embeddings.weight", {c.vocab_size, H});
  const auto position =
      st.read_f32(p + "embeddings.position_embeddings.weight", {c.max_positions, H});
  const auto type =
      st.read_f32(p + "embeddings.token_type_embeddings.weight", {c.type_vocab_size, H});
  table.resize(static_cast<std::size_t>((c.vocab_size + c.max_positions) * H));
  for (int64_t pos = 0; pos < c.max_positions; ++pos) {
    for (int64_t j = 0; j < H; ++j) {
      table[(c.vocab_size + pos) * H + j] = position[pos * H + j] + type[j];
    }
  }
  w->embeddings = Tensor(device, table);
  w->embedding_norm = affine(p + "embeddings.LayerNorm", {H});
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string q = p + "encoder.layer." + std::to_string(l) + ".";
    w->layers.push_back(LayerWeights{
        affine(q + "attention.self.query", {H, H}), affine(q + "attention.self.key", {H, H}),
        affine(q + "attention.self.value", {H, H}), affine(q + "attention.output.dense", {H, H}),
        affine(q + "attention.output.LayerNorm", {H}), affine(q + "intermediate.dense", {I, H}),
        affine(q + "output.dense", {H, I}), affine(q + "output.LayerNorm", {H})});
  }
  return w;
}

// x = layer_norm(x) in place (the kernel allows y == x at inference).
void layer_norm(const k::Device& device, int64_t n, int64_t dim, float eps, const Affine& a,
                float* x) {
  k::LayerNormParams p;
  p.n = n;
  p.dim = dim;
  p.eps = eps;
  p.x = x;
  p.gamma = a.weight.data();
  p.beta = a.bias.data();
  p.y = x;
  k::layer_norm_forward(device, p);
}

// out[b] = sum (or mean) of the table rows indices[offsets[b], offsets[b+1]).
void bags(const k::Device& device, const float* table, int64_t rows, int64_t dim,
          const int64_t* indices, int64_t num_indices, const int64_t* offsets, int64_t count,
          k::Pooling pooling, float* out) {
  k::EmbeddingBags b;
  b.indices = indices;
  b.offsets = offsets;
  b.count = count;
  b.num_indices = num_indices;
  b.pooling = pooling;
  k::embedding_bag_forward(device, table, rows, dim, b, out);
}

// Copies host values into the front of a (large enough) device buffer.
void upload(const k::Device& device, k::Buffer<int64_t>& buffer, const std::vector<int64_t>& host) {
  if (!host.empty())
    k::copy_to_device(device, buffer.data(), host.data(), host.size() * sizeof(int64_t));
}

}  // namespace

BertEncoder::BertEncoder(const std::string& model_dir, const kernels::Device& device)
    : config_(read_bert_config(model_dir)),
      tokenizer_(WordPieceTokenizer::from_vocab_file(
          (std::filesystem::path(model_dir) / "vocab.txt").string(), config_.tokenizer)),
      device_(device) {
  HYBREC_CHECK(!device_.is_cuda() || k::cuda_device_count() > 0,
               "BertEncoder: the CUDA backend was asked for, but ",
               k::cuda_compiled() ? "no CUDA device is visible" : "this build has no CUDA");
  HYBREC_CHECK(tokenizer_.vocab_size() == config_.vocab_size, "model directory ", model_dir,
               ": vocab.txt has ", tokenizer_.vocab_size(), " tokens, config.json vocab_size ",
               config_.vocab_size);
  device_.check_bounds = false;  // encode_ids checks every id on the host first
  weights_ = load_weights(config_, device_);
}

BertEncoder::~BertEncoder() = default;

void BertEncoder::encode_ids(const std::vector<std::vector<int32_t>>& seqs, float* out) const {
  BertWorkspace workspace;
  forward(seqs, out, workspace);
}

// Every array lives on the encoder's device; the host builds the index
// arrays, uploads them, enqueues the kernels and downloads the pooled rows.
void BertEncoder::forward(const std::vector<std::vector<int32_t>>& seqs, float* out,
                          BertWorkspace& ws) const {
  const BertConfig& c = config_;
  const BertWeights& w = *weights_;
  const int64_t H = c.hidden;
  const int64_t B = static_cast<int64_t>(seqs.size());
  std::vector<int64_t> start(static_cast<std::size_t>(B) + 1, 0);
  for (int64_t b = 0; b < B; ++b) {
    const auto len = static_cast<int64_t>(seqs[b].size());
    HYBREC_CHECK(len >= 1 && len <= c.max_positions, "encode_ids: sequence ", b, " has ", len,
                 " tokens, outside [1, ", c.max_positions, "]");
    for (int32_t id : seqs[b]) {
      HYBREC_CHECK(id >= 0 && id < c.vocab_size, "encode_ids: token id ", id, " of sequence ", b,
                   " outside the vocabulary [0, ", c.vocab_size, ")");
    }
    start[b + 1] = start[b] + len;
  }
  const int64_t n = start[B];
  if (B == 0) return;
  ws.reserve(device_, c, n, B);

  // Bags: token i = its word row + row (vocab + position).
  std::vector<int64_t> token_rows(static_cast<std::size_t>(2 * n));
  std::vector<int64_t> token_ends(static_cast<std::size_t>(n) + 1);
  std::vector<int64_t> lengths(static_cast<std::size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    lengths[b] = start[b + 1] - start[b];
    for (int64_t t = 0; t < lengths[b]; ++t) {
      const int64_t i = start[b] + t;
      token_rows[2 * i] = seqs[b][t];
      token_rows[2 * i + 1] = c.vocab_size + t;
    }
  }
  for (int64_t i = 0; i <= n; ++i) token_ends[i] = 2 * i;
  upload(device_, ws.token_rows, token_rows);
  upload(device_, ws.token_ends, token_ends);
  // One attention call per run of equal-length sequences (encode() sorts by
  // length, so they are adjacent).
  const std::vector<nn::LengthGroup> groups = nn::length_groups(lengths.data(), B);
  const nn::PackedRows packed{n, groups.data(), static_cast<int64_t>(groups.size())};

  const int64_t rows = n * H;
  float* x = ws.hidden.data();
  bags(device_, w.embeddings.data(), c.vocab_size + c.max_positions, H, ws.token_rows.data(), 2 * n,
       ws.token_ends.data(), n, k::Pooling::kSum, x);
  layer_norm(device_, n, H, c.layer_norm_eps, w.embedding_norm, x);
  const nn::BlockShape shape = block_shape(c);
  for (const LayerWeights& lw : w.layers) {
    nn::block_inference(device_, shape, block_weights(lw), packed, x, &ws.block, x);
  }

  // Pooling over each text's real tokens (mean: one bag per text; [CLS]:
  // its first row; max: on the host), then L2 normalisation on the host.
  std::vector<float> pooled(static_cast<std::size_t>(B * H));
  if (c.pooling == Pooling::kMax) {
    std::vector<float> hidden(static_cast<std::size_t>(rows));
    k::copy_to_host(device_, hidden.data(), x, hidden.size() * sizeof(float));
    for (int64_t s = 0; s < B; ++s) {
      float* o = pooled.data() + s * H;
      std::copy_n(hidden.data() + start[s] * H, H, o);
      for (int64_t t = start[s] + 1; t < start[s + 1]; ++t)
        for (int64_t j = 0; j < H; ++j) o[j] = std::max(o[j], hidden[t * H + j]);
    }
  } else {
    upload(device_, ws.starts, start);
    if (c.pooling == Pooling::kCls) {
      k::embedding_gather(device_, x, n, H, ws.starts.data(), B, ws.pooled.data());
    } else {
      std::vector<int64_t> token_ids(static_cast<std::size_t>(n));
      std::iota(token_ids.begin(), token_ids.end(), 0);
      upload(device_, ws.token_ids, token_ids);
      bags(device_, x, n, H, ws.token_ids.data(), n, ws.starts.data(), B, k::Pooling::kMean,
           ws.pooled.data());
    }
    k::copy_to_host(device_, pooled.data(), ws.pooled.data(), pooled.size() * sizeof(float));
  }
  for (int64_t s = 0; s < B; ++s) {
    const float* p = pooled.data() + s * H;
    float* o = out + s * H;
    double norm = 0.0;
    for (int64_t j = 0; j < H; ++j) norm += static_cast<double>(p[j]) * p[j];
    // sentence-transformers' Normalize: x / max(||x||, 1e-12).
    const double scale = c.normalize ? 1.0 / std::max(std::sqrt(norm), 1e-12) : 1.0;
    for (int64_t j = 0; j < H; ++j) o[j] = static_cast<float>(p[j] * scale);
  }
}

void BertEncoder::encode(const std::vector<std::string>& texts, int64_t batch_size, float* out,
                         const Progress& progress) const {
  HYBREC_CHECK(batch_size >= 1, "encode: batch size ", batch_size, " must be at least 1");
  const auto total = static_cast<int64_t>(texts.size());
  std::vector<std::vector<int32_t>> ids(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    ids[i] = tokenizer_.encode(texts[i], config_.max_seq_length);
  }
  // Shortest first, ties in input order: a batch's texts have close lengths
  // and equal lengths sit together (one attention call each).
  std::vector<int64_t> order(texts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return ids[a].size() < ids[b].size(); });
  const int64_t H = dim();
  BertWorkspace workspace;  // sized once, for the batch with the most tokens
  int64_t most_tokens = 0;
  for (int64_t begin = 0; begin < total; begin += batch_size) {
    int64_t tokens = 0;
    for (int64_t i = begin; i < std::min(total, begin + batch_size); ++i)
      tokens += static_cast<int64_t>(ids[order[i]].size());
    most_tokens = std::max(most_tokens, tokens);
  }
  workspace.reserve(device_, config_, most_tokens, std::min(total, batch_size));
  std::vector<std::vector<int32_t>> batch;
  std::vector<float> vectors;
  for (int64_t begin = 0; begin < total; begin += batch_size) {
    const int64_t end = std::min(total, begin + batch_size);
    batch.clear();
    for (int64_t i = begin; i < end; ++i) batch.push_back(std::move(ids[order[i]]));
    vectors.resize(static_cast<std::size_t>((end - begin) * H));
    forward(batch, vectors.data(), workspace);
    for (int64_t i = begin; i < end; ++i) {
      std::copy_n(vectors.data() + (i - begin) * H, H, out + order[i] * H);
    }
    if (progress) progress(end, total);
  }
}

std::vector<float> BertEncoder::encode_one(const std::string& text) const {
  std::vector<float> v(static_cast<std::size_t>(dim()));
  encode({text}, 1, v.data());
  return v;
}

}  // namespace hybrec::text
