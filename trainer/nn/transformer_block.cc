#include "trainer/nn/transformer_block.h"

#include "hybrec/kernels/attention.h"
#include "hybrec/kernels/dense.h"
#include "hybrec/kernels/elementwise.h"
#include "hybrec/kernels/error.h"
#include "trainer/nn/block_ops.h"

namespace hybrec::nn {

namespace k = hybrec::kernels;

void BlockActivations::reserve(const k::Device& device, const BlockShape& s, int64_t rows) {
  if (rows <= capacity) return;
  capacity = rows;
  for (auto* b : {&q, &k, &v, &att, &r1, &x1, &r2, &out}) grow(device, rows * s.dim, b);
  for (auto* b : {&mean1, &rstd1, &mean2, &rstd2}) grow(device, rows, b);
  grow(device, rows * lse_stride(s), &lse);
  grow(device, rows * s.hidden, &f1);
  grow(device, rows * s.hidden, &g);
}

void BlockBackwardScratch::reserve(const k::Device& device, const BlockShape& s, int64_t rows) {
  if (rows <= capacity) return;
  capacity = rows;
  for (auto* b : {&d1, &d2, &dq, &dk, &dv}) grow(device, rows * s.dim, b);
  grow(device, rows * s.hidden, &dh);
}

void BlockInferenceScratch::reserve(const k::Device& device, const BlockShape& s, int64_t rows) {
  if (rows <= capacity) return;
  capacity = rows;
  for (auto* b : {&q, &k, &v, &att, &r}) grow(device, rows * s.dim, b);
  grow(device, rows * lse_stride(s), &lse);
  grow(device, rows * s.hidden, &ff);
}

void check_shape(const BlockShape& s) {
  HYBREC_CHECK(s.dim > 0 && s.heads > 0 && s.dim % s.heads == 0, "transformer block: dim ", s.dim,
               " must be a positive multiple of heads ", s.heads);
  HYBREC_CHECK(s.hidden > 0, "transformer block: hidden ", s.hidden, " must be positive");
}

void check_packed(const PackedRows& p) {
  int64_t row = 0;
  for (int64_t i = 0; i < p.num_groups; ++i) {
    const LengthGroup& g = p.groups[i];
    HYBREC_CHECK(g.len >= 1 && g.examples >= 1 && g.first_row == row, "transformer block: group ",
                 i, " (len ", g.len, ", examples ", g.examples, ", first_row ", g.first_row,
                 ") does not continue the packed rows at row ", row);
    row += g.len * g.examples;
  }
  HYBREC_CHECK(row == p.rows, "transformer block: the groups cover ", row, " rows, not ", p.rows);
}

void block_forward(const k::Device& device, const BlockShape& s, const BlockWeights& w,
                   const PackedRows& packed, const float* x, BlockActivations* a) {
  check_shape(s);
  check_packed(packed);
  const int64_t n = packed.rows, d = s.dim, f = s.hidden;
  if (n == 0) return;
  a->reserve(device, s, n);
  // Three GEMMs, so Q, K and V each land in their own buffer, every length
  // group of which is the [examples, len, heads, head_dim] block attention
  // reads in place.
  linear_forward(device, n, d, d, x, w.q_w, w.q_b, a->q.data());
  linear_forward(device, n, d, d, x, w.k_w, w.k_b, a->k.data());
  linear_forward(device, n, d, d, x, w.v_w, w.v_b, a->v.data());
  for (int64_t i = 0; i < packed.num_groups; ++i) {
    k::attention_forward(device, group_attention(s, packed.groups[i], a->q.data(), a->k.data(),
                                                 a->v.data(), a->att.data(), a->lse.data()));
  }
  linear_forward(device, n, d, d, a->att.data(), w.out_w, w.out_b, a->r1.data());
  k::add(device, a->r1.data(), x, n * d, a->r1.data());
  layer_norm_forward(device, s, n, a->r1.data(), w.ln1_g, w.ln1_b, a->x1.data(), a->mean1.data(),
                     a->rstd1.data());
  linear_forward(device, n, d, f, a->x1.data(), w.ffn1_w, w.ffn1_b, a->f1.data());
  k::gelu_forward(device, a->f1.data(), n * f, a->g.data());
  linear_forward(device, n, f, d, a->g.data(), w.ffn2_w, w.ffn2_b, a->r2.data());
  k::add(device, a->r2.data(), a->x1.data(), n * d, a->r2.data());
  layer_norm_forward(device, s, n, a->r2.data(), w.ln2_g, w.ln2_b, a->out.data(), a->mean2.data(),
                     a->rstd2.data());
}

void block_backward(const k::Device& device, const BlockShape& s, const BlockWeights& w,
                    const BlockGrads& g, const PackedRows& packed, const float* x,
                    const BlockActivations& a, const float* dy, BlockBackwardScratch* scratch,
                    float* dx) {
  check_shape(s);
  check_packed(packed);
  const int64_t n = packed.rows, d = s.dim, f = s.hidden;
  if (n == 0) return;
  HYBREC_CHECK(a.capacity >= n, "block_backward: the activations hold ", a.capacity,
               " rows, the batch has ", n, " (run block_forward on it first)");
  scratch->reserve(device, s, n);
  float* d1 = scratch->d1.data();  // gradient of r2, then of x1, then of r1
  float* d2 = scratch->d2.data();  // a branch's input gradient
  float* dh = scratch->dh.data();

  layer_norm_backward(device, s, n, a.r2.data(), w.ln2_g, a.mean2.data(), a.rstd2.data(), dy, d1,
                      g.ln2_g, g.ln2_b);
  // Feed-forward branch; the residual passes d1 through unchanged.
  linear_backward(device, n, f, d, a.g.data(), w.ffn2_w, d1, dh, g.ffn2_w, g.ffn2_b);
  k::gelu_backward(device, a.f1.data(), dh, n * f, dh);
  linear_backward(device, n, d, f, a.x1.data(), w.ffn1_w, dh, d2, g.ffn1_w, g.ffn1_b);
  k::add(device, d1, d2, n * d, d1);
  layer_norm_backward(device, s, n, a.r1.data(), w.ln1_g, a.mean1.data(), a.rstd1.data(), d1, d1,
                      g.ln1_g, g.ln1_b);

  // Attention branch; the residual again passes d1 through.
  linear_backward(device, n, d, d, a.att.data(), w.out_w, d1, d2, g.out_w, g.out_b);
  for (int64_t i = 0; i < packed.num_groups; ++i) {
    const LengthGroup& grp = packed.groups[i];
    const int64_t row = grp.first_row * d;
    k::AttentionParams p =
        group_attention(s, grp, a.q.data(), a.k.data(), a.v.data(),
                        const_cast<float*>(a.att.data()), const_cast<float*>(a.lse.data()));
    p.dout = d2 + row;
    p.dq = scratch->dq.data() + row;
    p.dk = scratch->dk.data() + row;
    p.dv = scratch->dv.data() + row;
    k::attention_backward(device, p);
  }
  linear_backward(device, n, d, d, x, w.q_w, scratch->dq.data(), d2, g.q_w, g.q_b);
  k::add(device, d1, d2, n * d, d1);
  linear_backward(device, n, d, d, x, w.k_w, scratch->dk.data(), d2, g.k_w, g.k_b);
  k::add(device, d1, d2, n * d, d1);
  linear_backward(device, n, d, d, x, w.v_w, scratch->dv.data(), d2, g.v_w, g.v_b);
  k::add(device, d1, d2, n * d, dx);
}

void block_inference(const k::Device& device, const BlockShape& s, const BlockWeights& w,
                     const PackedRows& packed, const float* x, BlockInferenceScratch* scratch,
                     float* y) {
  check_shape(s);
  check_packed(packed);
  const int64_t n = packed.rows, d = s.dim;
  if (n == 0) return;
  scratch->reserve(device, s, n);
  BlockInferenceScratch& c = *scratch;
  linear_forward(device, n, d, d, x, w.q_w, w.q_b, c.q.data());
  linear_forward(device, n, d, d, x, w.k_w, w.k_b, c.k.data());
  linear_forward(device, n, d, d, x, w.v_w, w.v_b, c.v.data());
  for (int64_t i = 0; i < packed.num_groups; ++i) {
    k::attention_forward(device, group_attention(s, packed.groups[i], c.q.data(), c.k.data(),
                                                 c.v.data(), c.att.data(), c.lse.data()));
  }
  block_tail_inference(device, s, w, n, x, scratch, y);
}

void block_tail_inference(const k::Device& device, const BlockShape& s, const BlockWeights& w,
                          int64_t n, const float* x, BlockInferenceScratch* scratch, float* y) {
  const int64_t d = s.dim, f = s.hidden;
  BlockInferenceScratch& c = *scratch;
  // r = x1 after the layer norm (in place); att is free once projected, so
  // it takes r2. x is last read by the first add, so y may alias it.
  linear_forward(device, n, d, d, c.att.data(), w.out_w, w.out_b, c.r.data());
  k::add(device, c.r.data(), x, n * d, c.r.data());
  layer_norm_forward(device, s, n, c.r.data(), w.ln1_g, w.ln1_b, c.r.data(), nullptr, nullptr);
  linear_forward(device, n, d, f, c.r.data(), w.ffn1_w, w.ffn1_b, c.ff.data());
  k::gelu_forward(device, c.ff.data(), n * f, c.ff.data());
  linear_forward(device, n, f, d, c.ff.data(), w.ffn2_w, w.ffn2_b, c.att.data());
  k::add(device, c.att.data(), c.r.data(), n * d, c.att.data());
  layer_norm_forward(device, s, n, c.att.data(), w.ln2_g, w.ln2_b, y, nullptr, nullptr);
}

}  // namespace hybrec::nn
