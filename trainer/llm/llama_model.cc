#include "trainer/llm/llama_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "hybrec/kernels/error.h"
#include "hybrec/kernels/quant.h"

namespace hybrec::llm {
namespace {

using kernels::QuantType;

int64_t get_count(const text::GgufFile& f, const std::string& key) {
  const int64_t v = f.get_i64(key);
  HYBREC_CHECK(v > 0, f.path(), ": ", key, " must be positive, got ", v);
  return v;
}

QuantType quant_type_of(const text::GgufFile& f, const text::GgufFile::Tensor& t) {
  switch (t.type) {
    case text::GgmlType::kF32:
      return QuantType::kF32;
    case text::GgmlType::kF16:
      return QuantType::kF16;
    case text::GgmlType::kQ8_0:
      return QuantType::kQ8_0;
    case text::GgmlType::kQ4_1:
      return QuantType::kQ4_1;
    default:
      HYBREC_THROW(f.path(), ": tensor ", t.name, " has type ", text::ggml_type_name(t.type),
                   "; the Llama decoder reads F32, F16, Q8_0 and Q4_1");
  }
}

// The tensor `name` as [out, in] rows (ggml ne = [in, out]).
QuantWeight weight(const text::GgufFile& f, const std::string& name, int64_t out, int64_t in) {
  const auto& t = f.tensor(name);  // throws naming the tensor when absent
  const std::vector<int64_t> want{out, in};
  if (t.shape() != want) {
    std::string got;
    for (int64_t d : t.shape()) got += (got.empty() ? "" : ", ") + std::to_string(d);
    HYBREC_THROW(f.path(), ": tensor ", name, " has shape [", got, "], expected [", out, ", ", in,
                 "]");
  }
  QuantWeight w;
  w.type = quant_type_of(f, t);
  w.data = t.data;
  w.in = in;
  w.out = out;
  return w;
}

void dequantize(QuantType type, const void* row, int64_t n, float* out) {
  switch (type) {
    case QuantType::kF32:
      std::memcpy(out, row, static_cast<std::size_t>(n) * sizeof(float));
      return;
    case QuantType::kF16:
      kernels::dequantize_row_f16(row, n, out);
      return;
    case QuantType::kQ8_0:
      kernels::dequantize_row_q8_0(row, n, out);
      return;
    case QuantType::kQ4_1:
      kernels::dequantize_row_q4_1(row, n, out);
      return;
  }
}

void matmul(const QuantWeight& w, const float* x, int64_t n, float* y) {
  kernels::QuantMatmulParams p;
  p.n = n;
  p.in = w.in;
  p.out = w.out;
  p.w_type = w.type;
  p.w = w.data;
  p.x = x;
  p.y = y;
  kernels::quant_matmul(kernels::Device::cpu(), p);
}

void rms_norm(const float* x, const float* gamma, int64_t n, int64_t dim, float eps, float* y) {
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * dim;
    double ss = 0.0;
    for (int64_t j = 0; j < dim; ++j) ss += static_cast<double>(xr[j]) * xr[j];
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(dim) + eps));
    for (int64_t j = 0; j < dim; ++j) y[r * dim + j] = xr[j] * scale * gamma[j];
  }
}

// ggml's normal RoPE on one head: pairs (2i, 2i + 1) for 2i < rope_dim.
void rope(float* head, int64_t rope_dim, const std::vector<float>& inv_freq, int64_t pos) {
  for (int64_t i = 0; i < rope_dim / 2; ++i) {
    const double angle = static_cast<double>(pos) * inv_freq[i];
    const float c = static_cast<float>(std::cos(angle));
    const float s = static_cast<float>(std::sin(angle));
    const float a = head[2 * i];
    const float b = head[2 * i + 1];
    head[2 * i] = a * c - b * s;
    head[2 * i + 1] = a * s + b * c;
  }
}

}  // namespace

LlamaConfig read_llama_config(const text::GgufFile& f) {
  HYBREC_CHECK(f.has("general.architecture"), f.path(), ": no general.architecture");
  const std::string arch = f.architecture();
  HYBREC_CHECK(arch == "llama", f.path(), ": general.architecture is \"", arch,
               "\"; LlamaModel runs only \"llama\"");
  LlamaConfig c;
  c.layers = get_count(f, "llama.block_count");
  c.dim = get_count(f, "llama.embedding_length");
  c.heads = get_count(f, "llama.attention.head_count");
  c.kv_heads = f.has("llama.attention.head_count_kv")
                   ? get_count(f, "llama.attention.head_count_kv")
                   : c.heads;
  c.ffn = get_count(f, "llama.feed_forward_length");
  c.context_length = get_count(f, "llama.context_length");
  HYBREC_CHECK(c.dim % c.heads == 0, f.path(), ": llama.embedding_length ", c.dim,
               " is not a multiple of llama.attention.head_count ", c.heads);
  HYBREC_CHECK(c.heads % c.kv_heads == 0, f.path(), ": llama.attention.head_count ", c.heads,
               " is not a multiple of llama.attention.head_count_kv ", c.kv_heads);
  c.head_dim = c.dim / c.heads;
  if (f.has("llama.attention.key_length")) {
    HYBREC_CHECK(get_count(f, "llama.attention.key_length") == c.head_dim, f.path(),
                 ": llama.attention.key_length ", f.get_i64("llama.attention.key_length"),
                 " differs from embedding_length / head_count = ", c.head_dim);
  }
  c.rope_dim =
      f.has("llama.rope.dimension_count") ? get_count(f, "llama.rope.dimension_count") : c.head_dim;
  HYBREC_CHECK(c.rope_dim <= c.head_dim && c.rope_dim % 2 == 0, f.path(),
               ": llama.rope.dimension_count ", c.rope_dim, " must be even and <= head_dim ",
               c.head_dim);
  if (f.has("llama.rope.freq_base")) c.rope_theta = f.get_f32("llama.rope.freq_base");
  c.rms_eps = f.get_f32("llama.attention.layer_norm_rms_epsilon");
  HYBREC_CHECK(f.has_tensor("token_embd.weight"), f.path(), ": no tensor token_embd.weight");
  const auto& emb = f.tensor("token_embd.weight");
  HYBREC_CHECK(emb.ne.size() == 2 && emb.ne[0] == c.dim, f.path(),
               ": token_embd.weight must be [vocab, ", c.dim, "]");
  c.vocab = emb.ne[1];
  if (f.has("llama.vocab_size")) {
    HYBREC_CHECK(f.get_i64("llama.vocab_size") == c.vocab, f.path(), ": llama.vocab_size ",
                 f.get_i64("llama.vocab_size"), " differs from token_embd.weight's ", c.vocab,
                 " rows");
  }
  return c;
}

LlamaModel::LlamaModel(const text::GgufFile& f) : config_(read_llama_config(f)) {
  const LlamaConfig& c = config_;
  const int64_t q_dim = c.heads * c.head_dim;
  const int64_t kv_dim = c.kv_heads * c.head_dim;
  token_embd_ = weight(f, "token_embd.weight", c.vocab, c.dim);
  tied_ = !f.has_tensor("output.weight");
  output_ = tied_ ? token_embd_ : weight(f, "output.weight", c.vocab, c.dim);
  output_norm_ = f.read_f32("output_norm.weight", {c.dim});
  layers_.resize(static_cast<std::size_t>(c.layers));
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    Layer& L = layers_[static_cast<std::size_t>(l)];
    L.attn_norm = f.read_f32(p + "attn_norm.weight", {c.dim});
    L.ffn_norm = f.read_f32(p + "ffn_norm.weight", {c.dim});
    L.q = weight(f, p + "attn_q.weight", q_dim, c.dim);
    L.k = weight(f, p + "attn_k.weight", kv_dim, c.dim);
    L.v = weight(f, p + "attn_v.weight", kv_dim, c.dim);
    L.o = weight(f, p + "attn_output.weight", c.dim, q_dim);
    L.gate = weight(f, p + "ffn_gate.weight", c.ffn, c.dim);
    L.up = weight(f, p + "ffn_up.weight", c.ffn, c.dim);
    L.down = weight(f, p + "ffn_down.weight", c.dim, c.ffn);
  }
}

void LlamaModel::embed(int32_t token, float* out) const {
  HYBREC_CHECK(token >= 0 && token < config_.vocab, "LlamaModel: token id ", token,
               " out of range [0, ", config_.vocab, ")");
  const int64_t row_bytes = kernels::quant_row_bytes(token_embd_.type, config_.dim);
  dequantize(token_embd_.type, static_cast<const uint8_t*>(token_embd_.data) + token * row_bytes,
             config_.dim, out);
}

LlamaSession::LlamaSession(const LlamaModel& model, int64_t max_len) : model_(model) {
  const LlamaConfig& c = model.config();
  HYBREC_CHECK(max_len >= 0, "LlamaSession: max_len must be >= 0, got ", max_len);
  max_len_ = max_len == 0 ? c.context_length : std::min(max_len, c.context_length);
  k_cache_.resize(static_cast<std::size_t>(c.layers));
  v_cache_.resize(static_cast<std::size_t>(c.layers));
  inv_freq_.resize(static_cast<std::size_t>(c.rope_dim / 2));
  for (int64_t i = 0; i < c.rope_dim / 2; ++i) {
    inv_freq_[i] = static_cast<float>(
        std::pow(static_cast<double>(c.rope_theta), -2.0 * i / static_cast<double>(c.rope_dim)));
  }
}

std::vector<float> LlamaSession::prefill(const std::vector<int32_t>& tokens) {
  HYBREC_CHECK(!tokens.empty(), "LlamaSession::prefill: no tokens");
  HYBREC_CHECK(static_cast<int64_t>(tokens.size()) <= max_len_,
               "LlamaSession::prefill: ", tokens.size(), " tokens exceed the context length ",
               max_len_, " (llama.context_length = ", model_.config().context_length,
               "); truncate the prompt");
  length_ = 0;
  return forward(tokens.data(), static_cast<int64_t>(tokens.size()));
}

std::vector<float> LlamaSession::step(int32_t token) {
  HYBREC_CHECK(length_ + 1 <= max_len_, "LlamaSession::step: position ", length_,
               " is past the context length ", max_len_,
               " (llama.context_length = ", model_.config().context_length, ")");
  return forward(&token, 1);
}

std::vector<float> LlamaSession::extend_branches(
    const std::vector<std::vector<int32_t>>& branches) {
  std::vector<int32_t> tokens;
  std::vector<int64_t> start;
  for (std::size_t b = 0; b < branches.size(); ++b) {
    const auto& branch = branches[b];
    HYBREC_CHECK(!branch.empty(), "LlamaSession::extend_branches: branch ", b, " has no tokens");
    HYBREC_CHECK(length_ + static_cast<int64_t>(branch.size()) <= max_len_,
                 "LlamaSession::extend_branches: branch ", b, " of ", branch.size(),
                 " tokens after ", length_, " exceeds the context length ", max_len_,
                 " (llama.context_length = ", model_.config().context_length, ")");
    start.insert(start.end(), branch.size(), static_cast<int64_t>(tokens.size()));
    tokens.insert(tokens.end(), branch.begin(), branch.end());
  }
  HYBREC_CHECK(!tokens.empty(), "LlamaSession::extend_branches: no branches");
  return forward(tokens.data(), static_cast<int64_t>(tokens.size()), start.data());
}

std::vector<float> LlamaSession::forward(const int32_t* tokens, int64_t n,
                                         const int64_t* branch_start) {
  const LlamaConfig& c = model_.config();
  for (int64_t t = 0; t < n; ++t) {
    HYBREC_CHECK(tokens[t] >= 0 && tokens[t] < c.vocab, "LlamaSession: token id ", tokens[t],
                 " at position ", length_ + t, " out of range [0, ", c.vocab, ")");
  }
  const int64_t dim = c.dim, hd = c.head_dim;
  const int64_t q_dim = c.heads * hd, kv_dim = c.kv_heads * hd;
  const int64_t group = c.heads / c.kv_heads;
  const int64_t pos0 = length_;
  const int64_t total = pos0 + n;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

  std::vector<float> x(static_cast<std::size_t>(n * dim));
  for (int64_t t = 0; t < n; ++t) model_.embed(tokens[t], x.data() + t * dim);
  std::vector<float> h(x.size()), q(static_cast<std::size_t>(n * q_dim));
  std::vector<float> k(static_cast<std::size_t>(n * kv_dim)), v(k.size());
  std::vector<float> att(q.size()), proj(x.size());
  std::vector<float> gate(static_cast<std::size_t>(n * c.ffn)), up(gate.size());

  // Token t's own earlier tokens begin at own(t); without branches, at 0.
  auto own = [&](int64_t t) { return branch_start == nullptr ? 0 : branch_start[t]; };
  for (int64_t l = 0; l < c.layers; ++l) {
    const auto& L = model_.layers()[static_cast<std::size_t>(l)];
    rms_norm(x.data(), L.attn_norm.data(), n, dim, c.rms_eps, h.data());
    matmul(L.q, h.data(), n, q.data());
    matmul(L.k, h.data(), n, k.data());
    matmul(L.v, h.data(), n, v.data());
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t hh = 0; hh < c.heads; ++hh)
        rope(&q[t * q_dim + hh * hd], c.rope_dim, inv_freq_, pos0 + t - own(t));
      for (int64_t hh = 0; hh < c.kv_heads; ++hh)
        rope(&k[t * kv_dim + hh * hd], c.rope_dim, inv_freq_, pos0 + t - own(t));
    }
    auto& kc = k_cache_[static_cast<std::size_t>(l)];
    auto& vc = v_cache_[static_cast<std::size_t>(l)];
    kc.resize(static_cast<std::size_t>(total * kv_dim));
    vc.resize(kc.size());
    std::copy(k.begin(), k.end(), kc.begin() + pos0 * kv_dim);
    std::copy(v.begin(), v.end(), vc.begin() + pos0 * kv_dim);

    // Causal grouped attention: token t over cache rows [0, pos0) and its
    // own [pos0 + own(t), pos0 + t] (key i < pos0 is row i, else row
    // i + own(t)); scores and softmax in float with the max subtracted.
    // One decode step (a few heads) is too little work for a parallel region.
#pragma omp parallel if (n > 1)
    {
      std::vector<float> score(static_cast<std::size_t>(total));
#pragma omp for collapse(2) schedule(static)
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t hh = 0; hh < c.heads; ++hh) {
          const float* qh = &q[t * q_dim + hh * hd];
          const int64_t kvh = hh / group;
          const int64_t keys = pos0 + t - own(t) + 1;
          float mx = -INFINITY;
          for (int64_t j = 0; j < keys; ++j) {
            const float* kj = &kc[(j < pos0 ? j : j + own(t)) * kv_dim + kvh * hd];
            float s = 0.0f;
            for (int64_t d = 0; d < hd; ++d) s += qh[d] * kj[d];
            score[j] = s * scale;
            mx = std::max(mx, score[j]);
          }
          float sum = 0.0f;
          for (int64_t j = 0; j < keys; ++j) {
            score[j] = std::exp(score[j] - mx);
            sum += score[j];
          }
          float* out = &att[t * q_dim + hh * hd];
          std::fill(out, out + hd, 0.0f);
          for (int64_t j = 0; j < keys; ++j) {
            const float w = score[j] / sum;
            const float* vj = &vc[(j < pos0 ? j : j + own(t)) * kv_dim + kvh * hd];
            for (int64_t d = 0; d < hd; ++d) out[d] += w * vj[d];
          }
        }
      }
    }
    matmul(L.o, att.data(), n, proj.data());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += proj[i];

    rms_norm(x.data(), L.ffn_norm.data(), n, dim, c.rms_eps, h.data());
    matmul(L.gate, h.data(), n, gate.data());
    matmul(L.up, h.data(), n, up.data());
    for (std::size_t i = 0; i < gate.size(); ++i) {
      const float g = gate[i];
      gate[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
    matmul(L.down, gate.data(), n, proj.data());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
  }
  length_ = branch_start == nullptr ? total : pos0;

  const int64_t first = branch_start == nullptr ? n - 1 : 0;
  std::vector<float> normed(static_cast<std::size_t>((n - first) * dim));
  rms_norm(x.data() + first * dim, model_.output_norm().data(), n - first, dim, c.rms_eps,
           normed.data());
  std::vector<float> logits(static_cast<std::size_t>((n - first) * c.vocab));
  matmul(model_.output(), normed.data(), n - first, logits.data());
  return logits;
}

}  // namespace hybrec::llm
