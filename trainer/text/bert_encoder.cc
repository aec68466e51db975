#include "trainer/text/bert_encoder.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "hybrec/kernels/attention.h"
#include "hybrec/kernels/dense.h"
#include "hybrec/kernels/error.h"
#include "trainer/text/safetensors.h"

namespace hybrec::text {

namespace k = hybrec::kernels;

struct LayerWeights {
  std::vector<float> q_w, q_b, k_w, k_b, v_w, v_b;  // self-attention projections
  std::vector<float> o_w, o_b, ln1_g, ln1_b;        // attention output + its layer norm
  std::vector<float> i_w, i_b, out_w, out_b;        // feed-forward
  std::vector<float> ln2_g, ln2_b;
};

struct BertWeights {
  std::vector<float> word, position, type, ln_g, ln_b;
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

std::unique_ptr<BertWeights> load_weights(const BertConfig& c) {
  const SafeTensors st((std::filesystem::path(c.dir) / "model.safetensors").string());
  const std::string p = weight_prefix(st);
  const int64_t H = c.hidden, I = c.intermediate;
  auto w = std::make_unique<BertWeights>();
  w->word = st.read_f32(p + "embeddings.word_embeddings.weight", {c.vocab_size, H});
  w->position = st.read_f32(p + "embeddings.position_embeddings.weight", {c.max_positions, H});
  w->type = st.read_f32(p + "embeddings.token_type_embeddings.weight", {c.type_vocab_size, H});
  w->ln_g = st.read_f32(p + "embeddings.LayerNorm.weight", {H});
  w->ln_b = st.read_f32(p + "embeddings.LayerNorm.bias", {H});
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string q = p + "encoder.layer." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.q_w = st.read_f32(q + "attention.self.query.weight", {H, H});
    lw.q_b = st.read_f32(q + "attention.self.query.bias", {H});
    lw.k_w = st.read_f32(q + "attention.self.key.weight", {H, H});
    lw.k_b = st.read_f32(q + "attention.self.key.bias", {H});
    lw.v_w = st.read_f32(q + "attention.self.value.weight", {H, H});
    lw.v_b = st.read_f32(q + "attention.self.value.bias", {H});
    lw.o_w = st.read_f32(q + "attention.output.dense.weight", {H, H});
    lw.o_b = st.read_f32(q + "attention.output.dense.bias", {H});
    lw.ln1_g = st.read_f32(q + "attention.output.LayerNorm.weight", {H});
    lw.ln1_b = st.read_f32(q + "attention.output.LayerNorm.bias", {H});
    lw.i_w = st.read_f32(q + "intermediate.dense.weight", {I, H});
    lw.i_b = st.read_f32(q + "intermediate.dense.bias", {I});
    lw.out_w = st.read_f32(q + "output.dense.weight", {H, I});
    lw.out_b = st.read_f32(q + "output.dense.bias", {H});
    lw.ln2_g = st.read_f32(q + "output.LayerNorm.weight", {H});
    lw.ln2_b = st.read_f32(q + "output.LayerNorm.bias", {H});
    w->layers.push_back(std::move(lw));
  }
  return w;
}

void linear(const k::Device& device, int64_t n, int64_t in, int64_t out, const float* x,
            const std::vector<float>& weight, const std::vector<float>& bias, float* y) {
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
void layer_norm(const k::Device& device, int64_t n, int64_t dim, float eps,
                const std::vector<float>& gamma, const std::vector<float>& beta, float* x) {
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

void add_into(float* y, const float* x, int64_t count) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < count; ++i) y[i] += x[i];
}

}  // namespace

BertEncoder::BertEncoder(const std::string& model_dir)
    : config_(read_bert_config(model_dir)),
      tokenizer_(WordPieceTokenizer::from_vocab_file(
          (std::filesystem::path(model_dir) / "vocab.txt").string(), config_.tokenizer)),
      weights_(load_weights(config_)),
      device_(k::Device::cpu()) {
  HYBREC_CHECK(tokenizer_.vocab_size() == config_.vocab_size, "model directory ", model_dir,
               ": vocab.txt has ", tokenizer_.vocab_size(), " tokens, config.json vocab_size ",
               config_.vocab_size);
}

BertEncoder::~BertEncoder() = default;

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

  // Embeddings: word + position + token type 0, then layer norm.
  std::vector<float> x(static_cast<std::size_t>(n * H));
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < start[b + 1] - start[b]; ++t) {
      const float* word = w.word.data() + static_cast<int64_t>(seqs[b][t]) * H;
      const float* pos = w.position.data() + t * H;
      float* row = x.data() + (start[b] + t) * H;
      for (int64_t j = 0; j < H; ++j) row[j] = word[j] + pos[j] + w.type[j];
    }
  }
  layer_norm(device_, n, H, c.layer_norm_eps, w.ln_g, w.ln_b, x.data());

  std::vector<float> q(x.size()), kk(x.size()), v(x.size()), att(x.size()), r(x.size());
  std::vector<float> ff(static_cast<std::size_t>(n * I));
  std::vector<float> lse(static_cast<std::size_t>(n * heads));
  for (const LayerWeights& lw : w.layers) {
    linear(device_, n, H, H, x.data(), lw.q_w, lw.q_b, q.data());
    linear(device_, n, H, H, x.data(), lw.k_w, lw.k_b, kk.data());
    linear(device_, n, H, H, x.data(), lw.v_w, lw.v_b, v.data());
    // One attention call per run of equal-length sequences: [count, len,
    // heads, head_dim] blocks of the packed rows, no padding, no mask.
    for (int64_t b = 0; b < B;) {
      const int64_t len = start[b + 1] - start[b];
      int64_t e = b + 1;
      while (e < B && start[e + 1] - start[e] == len) ++e;
      k::AttentionParams a;
      a.batch = e - b;
      a.seq_len = len;
      a.heads = heads;
      a.head_dim = H / heads;
      const int64_t off = start[b] * H;
      a.q = q.data() + off;
      a.k = kk.data() + off;
      a.v = v.data() + off;
      a.out = att.data() + off;
      a.lse = lse.data() + start[b] * heads;
      k::attention_forward(device_, a);
      b = e;
    }
    linear(device_, n, H, H, att.data(), lw.o_w, lw.o_b, r.data());
    add_into(r.data(), x.data(), n * H);
    layer_norm(device_, n, H, c.layer_norm_eps, lw.ln1_g, lw.ln1_b, r.data());
    linear(device_, n, H, I, r.data(), lw.i_w, lw.i_b, ff.data());
    k::gelu_forward(device_, ff.data(), n * I, ff.data());
    linear(device_, n, I, H, ff.data(), lw.out_w, lw.out_b, x.data());
    add_into(x.data(), r.data(), n * H);
    layer_norm(device_, n, H, c.layer_norm_eps, lw.ln2_g, lw.ln2_b, x.data());
  }

  // Pooling over each text's real tokens, then L2 normalisation.
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    float* o = out + b * H;
    const float* rows = x.data() + start[b] * H;
    const int64_t len = start[b + 1] - start[b];
    if (c.pooling == Pooling::kCls) {
      std::copy(rows, rows + H, o);
    } else if (c.pooling == Pooling::kMax) {
      std::copy(rows, rows + H, o);
      for (int64_t t = 1; t < len; ++t)
        for (int64_t j = 0; j < H; ++j) o[j] = std::max(o[j], rows[t * H + j]);
    } else {
      std::vector<double> sum(static_cast<std::size_t>(H), 0.0);
      for (int64_t t = 0; t < len; ++t)
        for (int64_t j = 0; j < H; ++j) sum[j] += rows[t * H + j];
      for (int64_t j = 0; j < H; ++j) o[j] = static_cast<float>(sum[j] / static_cast<double>(len));
    }
    if (c.normalize) {
      double norm = 0.0;
      for (int64_t j = 0; j < H; ++j) norm += static_cast<double>(o[j]) * o[j];
      // sentence-transformers' Normalize: x / max(||x||, 1e-12).
      const double scale = 1.0 / std::max(std::sqrt(norm), 1e-12);
      for (int64_t j = 0; j < H; ++j) o[j] = static_cast<float>(o[j] * scale);
    }
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
