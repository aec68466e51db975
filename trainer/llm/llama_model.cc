#include "trainer/llm/llama_model.h"

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

}  // namespace hybrec::llm
