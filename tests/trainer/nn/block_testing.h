// Shared by the transformer block suites: one block's parameters as a flat
// host vector (the 16 tensors in BlockTensors order), random inputs, and a
// naive double-precision forward of the same post-norm layer over packed
// sequences, written from the definition for clarity.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "trainer/nn/packed_rows.h"
#include "trainer/nn/transformer_block.h"

namespace hybrec::nn::testing {

// Offsets of the tensors in the flat layout, in BlockTensors order.
struct FlatLayout {
  int64_t q_w, q_b, k_w, k_b, v_w, v_b, out_w, out_b, ln1_g, ln1_b;
  int64_t ffn1_w, ffn1_b, ffn2_w, ffn2_b, ln2_g, ln2_b, total;
  explicit FlatLayout(const BlockShape& s) {
    const int64_t d = s.dim, f = s.hidden;
    int64_t at = 0;
    auto take = [&at](int64_t n) {
      const int64_t here = at;
      at += n;
      return here;
    };
    q_w = take(d * d), q_b = take(d), k_w = take(d * d), k_b = take(d);
    v_w = take(d * d), v_b = take(d), out_w = take(d * d), out_b = take(d);
    ln1_g = take(d), ln1_b = take(d), ffn1_w = take(f * d), ffn1_b = take(f);
    ffn2_w = take(d * f), ffn2_b = take(d), ln2_g = take(d), ln2_b = take(d);
    total = at;
  }
  template <typename T>
  BlockTensors<T> tensors(T* base) const {
    BlockTensors<T> t;
    t.q_w = base + q_w, t.q_b = base + q_b, t.k_w = base + k_w, t.k_b = base + k_b;
    t.v_w = base + v_w, t.v_b = base + v_b, t.out_w = base + out_w, t.out_b = base + out_b;
    t.ln1_g = base + ln1_g, t.ln1_b = base + ln1_b, t.ffn1_w = base + ffn1_w;
    t.ffn1_b = base + ffn1_b, t.ffn2_w = base + ffn2_w, t.ffn2_b = base + ffn2_b;
    t.ln2_g = base + ln2_g, t.ln2_b = base + ln2_b;
    return t;
  }
};

inline std::vector<float> random_values(uint64_t seed, int64_t n, float scale) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

// Weights scaled like a trained layer's (1/sqrt(fan_in)), gains near 1,
// shifts and biases away from 0 so no gradient hides behind a special value.
inline std::vector<float> random_block(const BlockShape& s, uint64_t seed) {
  const FlatLayout l(s);
  std::vector<float> p = random_values(seed, l.total, 1.0f);
  const float wd = 1.0f / std::sqrt(static_cast<float>(s.dim));
  const float wf = 1.0f / std::sqrt(static_cast<float>(s.hidden));
  auto scale = [&p](int64_t at, int64_t n, float by, float plus) {
    for (int64_t i = at; i < at + n; ++i) p[static_cast<std::size_t>(i)] = p[i] * by + plus;
  };
  const int64_t d = s.dim, f = s.hidden;
  for (int64_t w : {l.q_w, l.k_w, l.v_w, l.out_w}) scale(w, d * d, wd, 0.0f);
  scale(l.ffn1_w, f * d, wd, 0.0f);
  scale(l.ffn2_w, d * f, wf, 0.0f);
  for (int64_t b : {l.q_b, l.k_b, l.v_b, l.out_b, l.ffn2_b, l.ln1_b, l.ln2_b})
    scale(b, d, 0.2f, 0.0f);
  scale(l.ffn1_b, f, 0.2f, 0.0f);
  scale(l.ln1_g, d, 0.3f, 1.0f);
  scale(l.ln2_g, d, 0.3f, 1.0f);
  return p;
}

// The packed layout of sequences with these lengths, in this order.
struct Packing {
  std::vector<int64_t> lengths;
  std::vector<LengthGroup> groups;
  int64_t rows = 0;
  explicit Packing(std::vector<int64_t> lens)
      : lengths(std::move(lens)), groups(length_groups(lengths.data(), size())) {
    for (int64_t n : lengths) rows += n;
  }
  int64_t size() const { return static_cast<int64_t>(lengths.size()); }
  PackedRows packed() const { return {rows, groups.data(), static_cast<int64_t>(groups.size())}; }
};

// The layer in double over packed sequences: x and the result [rows, dim].
inline std::vector<double> reference_block(const BlockShape& s, const std::vector<double>& p,
                                           const std::vector<int64_t>& lengths,
                                           const std::vector<double>& x) {
  const FlatLayout l(s);
  const int64_t d = s.dim, f = s.hidden, heads = s.heads, hd = d / heads;
  int64_t rows = 0;
  for (int64_t n : lengths) rows += n;
  auto linear = [&](const std::vector<double>& in, int64_t n, int64_t fin, int64_t fout, int64_t w,
                    int64_t b) {
    std::vector<double> y(static_cast<std::size_t>(n * fout));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t o = 0; o < fout; ++o) {
        double acc = p[b + o];
        for (int64_t j = 0; j < fin; ++j) acc += in[i * fin + j] * p[w + o * fin + j];
        y[i * fout + o] = acc;
      }
    return y;
  };
  auto layer_norm = [&](std::vector<double> v, int64_t g, int64_t b) {
    for (int64_t i = 0; i < rows; ++i) {
      double mean = 0, var = 0;
      for (int64_t j = 0; j < d; ++j) mean += v[i * d + j];
      mean /= static_cast<double>(d);
      for (int64_t j = 0; j < d; ++j) var += (v[i * d + j] - mean) * (v[i * d + j] - mean);
      var /= static_cast<double>(d);
      const double rstd = 1.0 / std::sqrt(var + static_cast<double>(s.eps));
      for (int64_t j = 0; j < d; ++j)
        v[i * d + j] = (v[i * d + j] - mean) * rstd * p[g + j] + p[b + j];
    }
    return v;
  };
  const auto q = linear(x, rows, d, d, l.q_w, l.q_b);
  const auto k = linear(x, rows, d, d, l.k_w, l.k_b);
  const auto v = linear(x, rows, d, d, l.v_w, l.v_b);
  std::vector<double> att(static_cast<std::size_t>(rows * d), 0.0);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  int64_t r0 = 0;
  for (int64_t len : lengths) {
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < len; ++i) {
        const int64_t keys = s.causal ? i + 1 : len;
        std::vector<double> e(static_cast<std::size_t>(keys));
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < keys; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < hd; ++c)
            dot += q[(r0 + i) * d + h * hd + c] * k[(r0 + j) * d + h * hd + c];
          e[j] = dot * scale;
          mx = std::max(mx, e[j]);
        }
        for (double& z : e) sum += (z = std::exp(z - mx));
        for (int64_t j = 0; j < keys; ++j)
          for (int64_t c = 0; c < hd; ++c)
            att[(r0 + i) * d + h * hd + c] += e[j] / sum * v[(r0 + j) * d + h * hd + c];
      }
    r0 += len;
  }
  auto r1 = linear(att, rows, d, d, l.out_w, l.out_b);
  for (int64_t i = 0; i < rows * d; ++i) r1[i] += x[i];
  const auto x1 = layer_norm(r1, l.ln1_g, l.ln1_b);
  auto hid = linear(x1, rows, d, f, l.ffn1_w, l.ffn1_b);
  for (double& z : hid) z = 0.5 * z * (1.0 + std::erf(z / std::sqrt(2.0)));
  auto r2 = linear(hid, rows, f, d, l.ffn2_w, l.ffn2_b);
  for (int64_t i = 0; i < rows * d; ++i) r2[i] += x1[i];
  return layer_norm(r2, l.ln2_g, l.ln2_b);
}

inline std::vector<double> to_double(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

}  // namespace hybrec::nn::testing
