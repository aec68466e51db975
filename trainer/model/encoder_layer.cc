#include "trainer/model/encoder_layer.h"

#include "hybrec/kernels/attention.h"
#include "hybrec/kernels/dense.h"

namespace hybrec::trainer {
namespace {

namespace k = hybrec::kernels;

k::LinearParams linear(int64_t n, int64_t in, int64_t out, const float* x, const float* weight,
                       const float* bias) {
  k::LinearParams p;
  p.n = n;
  p.in_features = in;
  p.out_features = out;
  p.x = x;
  p.weight = weight;
  p.bias = bias;
  return p;
}

// Backward of a linear layer set up by linear(): dx overwritten, the weight
// and bias gradients accumulated.
void linear_backward(k::LinearParams p, const float* dy, float* dx, float* dweight, float* dbias) {
  p.dy = dy;
  p.dx = dx;
  p.dweight = dweight;
  p.dbias = dbias;
  k::linear_backward(k::Device::cpu(), p);
}

// The attention core of one length group: its q, k, v rows are one
// [examples, len, heads, head_dim] block with no padding.
k::AttentionParams attention(const EncoderShape& s, const LengthGroup& grp,
                             const EncoderLayerCache& c) {
  const int64_t row = grp.first_row * s.dim;
  k::AttentionParams a;
  a.batch = grp.examples;
  a.seq_len = grp.len;
  a.heads = s.heads;
  a.head_dim = s.dim / s.heads;
  a.q = c.q.data() + row;
  a.k = c.k.data() + row;
  a.v = c.v.data() + row;
  a.out = const_cast<float*>(c.att.data()) + row;
  a.lse = const_cast<float*>(c.lse.data()) + grp.first_row * s.heads;
  return a;
}

void add_into(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace

void EncoderLayerCache::resize(const EncoderShape& s, int64_t rows) {
  const auto nd = static_cast<std::size_t>(rows * s.dim);
  const auto nh = static_cast<std::size_t>(rows * s.hidden);
  const auto n = static_cast<std::size_t>(rows);
  for (auto* b : {&q, &k, &v, &att, &r1, &x1, &r2, &out}) b->resize(nd);
  for (auto* b : {&mean1, &rstd1, &mean2, &rstd2}) b->resize(n);
  lse.resize(static_cast<std::size_t>(rows * s.heads));
  f1.resize(nh);
  g.resize(nh);
}

void EncoderBackwardScratch::resize(const EncoderShape& s, int64_t rows) {
  const auto nd = static_cast<std::size_t>(rows * s.dim);
  for (auto* b : {&d1, &d2, &dq, &dk, &dv}) b->resize(nd);
  dh.resize(static_cast<std::size_t>(rows * s.hidden));
}

void encoder_layer_forward(const EncoderShape& s, const EncoderLayerTensors<const float>& w,
                           const PackedRows& packed, const float* x, EncoderLayerCache* c) {
  const k::Device cpu = k::Device::cpu();
  const int64_t n = packed.rows, d = s.dim, f = s.hidden;
  if (n == 0) return;
  c->resize(s, n);
  // Q, K and V as three GEMMs on row blocks of the fused weight, so each
  // lands in its own buffer, every length group of which is the
  // [examples, len, heads, head_dim] block that attention wants.
  float* qkv[3] = {c->q.data(), c->k.data(), c->v.data()};
  for (int64_t part = 0; part < 3; ++part) {
    k::LinearParams p = linear(n, d, d, x, w.qkv_w + part * d * d, w.qkv_b + part * d);
    p.y = qkv[part];
    k::linear_forward(cpu, p);
  }
  for (int64_t i = 0; i < packed.num_groups; ++i) {
    k::attention_forward(cpu, attention(s, packed.groups[i], *c));
  }

  k::LinearParams po = linear(n, d, d, c->att.data(), w.out_w, w.out_b);
  po.y = c->r1.data();
  k::linear_forward(cpu, po);
  add_into(c->r1.data(), x, n * d);
  k::LayerNormParams ln1;
  ln1.n = n;
  ln1.dim = d;
  ln1.x = c->r1.data();
  ln1.gamma = w.ln1_g;
  ln1.beta = w.ln1_b;
  ln1.y = c->x1.data();
  ln1.mean = c->mean1.data();
  ln1.rstd = c->rstd1.data();
  k::layer_norm_forward(cpu, ln1);

  k::LinearParams p1 = linear(n, d, f, c->x1.data(), w.ffn1_w, w.ffn1_b);
  p1.y = c->f1.data();
  k::linear_forward(cpu, p1);
  k::gelu_forward(cpu, c->f1.data(), n * f, c->g.data());
  k::LinearParams p2 = linear(n, f, d, c->g.data(), w.ffn2_w, w.ffn2_b);
  p2.y = c->r2.data();
  k::linear_forward(cpu, p2);
  add_into(c->r2.data(), c->x1.data(), n * d);
  k::LayerNormParams ln2 = ln1;
  ln2.x = c->r2.data();
  ln2.gamma = w.ln2_g;
  ln2.beta = w.ln2_b;
  ln2.y = c->out.data();
  ln2.mean = c->mean2.data();
  ln2.rstd = c->rstd2.data();
  k::layer_norm_forward(cpu, ln2);
}

void encoder_layer_backward(const EncoderShape& s, const EncoderLayerTensors<const float>& w,
                            const EncoderLayerTensors<float>& g, const PackedRows& packed,
                            const float* x, const EncoderLayerCache& c, float* dy,
                            EncoderBackwardScratch* scratch, float* dx) {
  const k::Device cpu = k::Device::cpu();
  const int64_t n = packed.rows, d = s.dim, f = s.hidden;
  if (n == 0) return;
  scratch->resize(s, n);
  float* d1 = scratch->d1.data();  // gradient of r2, then of x1, then of r1
  float* d2 = scratch->d2.data();  // per-branch input gradients

  k::LayerNormParams ln2;
  ln2.n = n;
  ln2.dim = d;
  ln2.x = c.r2.data();
  ln2.gamma = w.ln2_g;
  ln2.mean = const_cast<float*>(c.mean2.data());
  ln2.rstd = const_cast<float*>(c.rstd2.data());
  ln2.dy = dy;
  ln2.dx = d1;
  ln2.dgamma = g.ln2_g;
  ln2.dbeta = g.ln2_b;
  k::layer_norm_backward(cpu, ln2);

  // FFN branch; the residual passes d1 through unchanged.
  linear_backward(linear(n, f, d, c.g.data(), w.ffn2_w, w.ffn2_b), d1, scratch->dh.data(), g.ffn2_w,
                  g.ffn2_b);
  k::gelu_backward(cpu, c.f1.data(), scratch->dh.data(), n * f, scratch->dh.data());
  linear_backward(linear(n, d, f, c.x1.data(), w.ffn1_w, w.ffn1_b), scratch->dh.data(), d2,
                  g.ffn1_w, g.ffn1_b);
  add_into(d1, d2, n * d);

  k::LayerNormParams ln1 = ln2;
  ln1.x = c.r1.data();
  ln1.gamma = w.ln1_g;
  ln1.mean = const_cast<float*>(c.mean1.data());
  ln1.rstd = const_cast<float*>(c.rstd1.data());
  ln1.dy = d1;
  ln1.dx = d1;
  ln1.dgamma = g.ln1_g;
  ln1.dbeta = g.ln1_b;
  k::layer_norm_backward(cpu, ln1);

  // Attention branch; the residual again passes d1 through.
  linear_backward(linear(n, d, d, c.att.data(), w.out_w, w.out_b), d1, d2, g.out_w, g.out_b);
  for (int64_t i = 0; i < packed.num_groups; ++i) {
    const LengthGroup& grp = packed.groups[i];
    const int64_t row = grp.first_row * d;
    k::AttentionParams a = attention(s, grp, c);
    a.dout = d2 + row;
    a.dq = scratch->dq.data() + row;
    a.dk = scratch->dk.data() + row;
    a.dv = scratch->dv.data() + row;
    k::attention_backward(cpu, a);
  }

  const float* dparts[3] = {scratch->dq.data(), scratch->dk.data(), scratch->dv.data()};
  for (int64_t part = 0; part < 3; ++part) {
    linear_backward(linear(n, d, d, x, w.qkv_w + part * d * d, w.qkv_b + part * d), dparts[part],
                    d2, g.qkv_w + part * d * d, g.qkv_b + part * d);
    if (part < 2) add_into(d1, d2, n * d);
  }
  for (int64_t i = 0; i < n * d; ++i) dx[i] = d1[i] + d2[i];
}

}  // namespace hybrec::trainer
