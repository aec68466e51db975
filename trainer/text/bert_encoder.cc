#include "trainer/text/bert_encoder.h"


#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "hybrec/kernels/attention.h"
#include "hybrec/kernels/dense.h"
#include "hybrec/kernels/embedding.h"
#include "hybrec/kernels/error.h"
#include "trainer/text/safetensors.h"

namespace hybrec::text {

namespace k = hybrec::kernels;

using Tensor = k::Buffer<float>;

struct LayerWeights {
  Tensor q_w, q_b, k_w, k_b, v_w, v_b;  // self-attention projections
  Tensor o_w, o_b, ln1_g, ln1_b;        // attention output + its layer norm
  Tensor i_w, i_b, out_w, out_b;        // feed-forward
  Tensor ln2_g, ln2_b;
};

struct BertWeights {
  // Rows [0, vocab): word embeddings; rows vocab + p: position p's embedding
  // plus token type 0's, so one bag of two rows per token is its input.
  Tensor embeddings;
  Tensor ln_g, ln_b;
  std::vector<LayerWeights> layers;
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
  auto load = [&](const std::string& name, const std::vector<int64_t>& shape) {
    return Tensor(device, st.read_f32(name, shape));
  };
  auto w = std::make_unique<BertWeights>();
  std::vector<float> table = st.read_f32(p + "embeddings.word_embeddings.weight", {c.vocab_size, H});
  const auto position = st.read_f32(p + "embeddings.position_embeddings.weight", {c.max_positions, H});
  const auto type = st.read_f32(p + "embeddings.token_type_embeddings.weight", {c.type_vocab_size, H});
  table.resize(static_cast<std::size_t>((c.vocab_size + c.max_positions) * H));
  for (int64_t pos = 0; pos < c.max_positions; ++pos)
    for (int64_t j = 0; j < H; ++j) table[(c.vocab_size + pos) * H + j] = position[pos * H + j] + type[j];
  w->embeddings = Tensor(device, table);
  w->ln_g = load(p + "embeddings.LayerNorm.weight", {H});
  w->ln_b = load(p + "embeddings.LayerNorm.bias", {H});
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string q = p + "encoder.layer." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.q_w = load(q + "attention.self.query.weight", {H, H});
    lw.q_b = load(q + "attention.self.query.bias", {H});
    lw.k_w = load(q + "attention.self.key.weight", {H, H});
    lw.k_b = load(q + "attention.self.key.bias", {H});
    lw.v_w = load(q + "attention.self.value.weight", {H, H});
    lw.v_b = load(q + "attention.self.value.bias", {H});
    lw.o_w = load(q + "attention.output.dense.weight", {H, H});
    lw.o_b = load(q + "attention.output.dense.bias", {H});
    lw.ln1_g = load(q + "attention.output.LayerNorm.weight", {H});
    lw.ln1_b = load(q + "attention.output.LayerNorm.bias", {H});
    lw.i_w = load(q + "intermediate.dense.weight", {I, H});
    lw.i_b = load(q + "intermediate.dense.bias", {I});
    lw.out_w = load(q + "output.dense.weight", {H, I});
    lw.out_b = load(q + "output.dense.bias", {H});
    lw.ln2_g = load(q + "output.LayerNorm.weight", {H});
    lw.ln2_b = load(q + "output.LayerNorm.bias", {H});
    w->layers.push_back(std::move(lw));
  }
  return w;
}

void linear(const k::Device& device, int64_t n, int64_t in, int64_t out, const float* x,
            const Tensor& weight, const Tensor& bias, float* y) {
  k::LinearParams p;
  p.n = n;
  p.in_features = in;
  p.out_features = out;
  p.x = x;
  p.weight = weight.data();
  p.bias = bias.data();
  p.y = y;
  k::linear_forward(device, p);
}

// y = layer_norm(x) in place (the kernel allows y == x at inference).
void layer_norm(const k::Device& device, int64_t n, int64_t dim, float eps, const Tensor& gamma,
                const Tensor& beta, float* x) {
  k::LayerNormParams p;
  p.n = n;
  p.dim = dim;
  p.eps = eps;
  p.x = x;
  p.gamma = gamma.data();
  p.beta = beta.data();
  p.y = x;
  k::layer_norm_forward(device, p);
}

// out[b] = sum (or mean) of the table rows in bag b, on the device.
void bags(const k::Device& device, const float* table, int64_t rows, int64_t dim,
          const k::Buffer<int64_t>& indices, const k::Buffer<int64_t>& offsets, int64_t count,
          k::Pooling pooling, float* out) {
  k::EmbeddingBags b;
  b.indices = indices.data();
  b.offsets = offsets.data();
  b.count = count;
  b.num_indices = static_cast<int64_t>(indices.size());
  b.pooling = pooling;
  k::embedding_bag_forward(device, table, rows, dim, b, out);
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

// Every array lives on the encoder's device; the host builds the index
// arrays, uploads them, enqueues the kernels and downloads the pooled rows.
// Residual adds are bags of two rows, (i, n + i), over a [2n, H] buffer that
// holds the stream and the sublayer's output; two such buffers alternate so
// no kernel writes what it reads.
void BertEncoder::encode_ids(const std::vector<std::vector<int32_t>>& seqs, float* out) const {
  const BertConfig& c = config_;
  const BertWeights& w = *weights_;
  const int64_t H = c.hidden, I = c.intermediate, heads = c.heads;
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

  // Bags: token t = word row + (vocab + position) row; residual i = (i, n + i).
  std::vector<int64_t> token_rows(static_cast<std::size_t>(2 * n)), pairs(token_rows.size());
  std::vector<int64_t> pair_offsets(static_cast<std::size_t>(n) + 1);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < start[b + 1] - start[b]; ++t) {
      const int64_t i = start[b] + t;
      token_rows[2 * i] = seqs[b][t];
      token_rows[2 * i + 1] = c.vocab_size + t;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    pairs[2 * i] = i;
    pairs[2 * i + 1] = n + i;
    pair_offsets[i] = 2 * i;
  }
  pair_offsets[n] = 2 * n;
  const k::Buffer<int64_t> token_bags(device_, token_rows), residual_bags(device_, pairs);
  const k::Buffer<int64_t> pair_ends(device_, pair_offsets);

  const auto rows = static_cast<std::size_t>(n * H);
  Tensor a(device_, 2 * rows), b2(device_, 2 * rows);  // [stream | sublayer output] x 2
  Tensor q(device_, rows), kk(device_, rows), v(device_, rows), att(device_, rows);
  Tensor ff(device_, static_cast<std::size_t>(n * I));
  Tensor lse(device_, static_cast<std::size_t>(n * heads));
  float* x = a.data();  // the stream entering a layer
  float* r1 = a.data() + rows;
  float* y = b2.data();  // the stream after attention
  float* r2 = b2.data() + rows;

  bags(device_, w.embeddings.data(), c.vocab_size + c.max_positions, H, token_bags, pair_ends, n,
       k::Pooling::kSum, x);
  layer_norm(device_, n, H, c.layer_norm_eps, w.ln_g, w.ln_b, x);
  for (const LayerWeights& lw : w.layers) {
    linear(device_, n, H, H, x, lw.q_w, lw.q_b, q.data());
    linear(device_, n, H, H, x, lw.k_w, lw.k_b, kk.data());
    linear(device_, n, H, H, x, lw.v_w, lw.v_b, v.data());
    // One attention call per run of equal-length sequences: [count, len,
    // heads, head_dim] blocks of the packed rows, no padding, no mask.
    for (int64_t s = 0; s < B;) {
      const int64_t len = start[s + 1] - start[s];
      int64_t e = s + 1;
      while (e < B && start[e + 1] - start[e] == len) ++e;
      k::AttentionParams p;
      p.batch = e - s;
      p.seq_len = len;
      p.heads = heads;
      p.head_dim = H / heads;
      const int64_t off = start[s] * H;
      p.q = q.data() + off;
      p.k = kk.data() + off;
      p.v = v.data() + off;
      p.out = att.data() + off;
      p.lse = lse.data() + start[s] * heads;
      k::attention_forward(device_, p);
      s = e;
    }
    linear(device_, n, H, H, att.data(), lw.o_w, lw.o_b, r1);
    bags(device_, a.data(), 2 * n, H, residual_bags, pair_ends, n, k::Pooling::kSum, y);
    layer_norm(device_, n, H, c.layer_norm_eps, lw.ln1_g, lw.ln1_b, y);
    linear(device_, n, H, I, y, lw.i_w, lw.i_b, ff.data());
    k::gelu_forward(device_, ff.data(), n * I, ff.data());
    linear(device_, n, I, H, ff.data(), lw.out_w, lw.out_b, r2);
    bags(device_, b2.data(), 2 * n, H, residual_bags, pair_ends, n, k::Pooling::kSum, x);
    layer_norm(device_, n, H, c.layer_norm_eps, lw.ln2_g, lw.ln2_b, x);
  }

  // Pooling over each text's real tokens (mean: bags over the token rows;
  // [CLS]: its row; max: on the host), then L2 normalisation on the host.
  std::vector<float> pooled(static_cast<std::size_t>(B * H));
  if (c.pooling == Pooling::kMax) {
    std::vector<float> hidden(rows);
    k::copy_to_host(device_, hidden.data(), x, rows * sizeof(float));
    for (int64_t s = 0; s < B; ++s) {
      float* o = pooled.data() + s * H;
      std::copy_n(hidden.data() + start[s] * H, H, o);
      for (int64_t t = start[s] + 1; t < start[s + 1]; ++t)
        for (int64_t j = 0; j < H; ++j) o[j] = std::max(o[j], hidden[t * H + j]);
    }
  } else {
    std::vector<int64_t> token_ids(static_cast<std::size_t>(n)), firsts(start.begin(), start.end() - 1);
    std::iota(token_ids.begin(), token_ids.end(), 0);
    const bool mean = c.pooling == Pooling::kMean;
    const k::Buffer<int64_t> pool_rows(device_, mean ? token_ids : firsts);
    const k::Buffer<int64_t> pool_ends(device_, mean ? start : std::vector<int64_t>{});
    Tensor result(device_, static_cast<std::size_t>(B * H));
    k::EmbeddingBags pb;
    pb.indices = pool_rows.data();
    pb.offsets = mean ? pool_ends.data() : nullptr;
    pb.count = B;
    pb.num_indices = static_cast<int64_t>(pool_rows.size());
    pb.pooling = mean ? k::Pooling::kMean : k::Pooling::kSum;
    k::embedding_bag_forward(device_, x, n, H, pb, result.data());
    pooled = result.download();
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
  std::vector<std::vector<int32_t>> batch;
  std::vector<float> vectors;
  for (int64_t begin = 0; begin < total; begin += batch_size) {
    const int64_t end = std::min(total, begin + batch_size);
    batch.clear();
    for (int64_t i = begin; i < end; ++i) batch.push_back(std::move(ids[order[i]]));
    vectors.resize(static_cast<std::size_t>((end - begin) * H));
    encode_ids(batch, vectors.data());
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
