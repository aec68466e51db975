// Inputs for the decode-attention tests, shared by the CPU and GPU files:
// a seeded query per (batch, head), a KV cache of max_len positions and a
// length per sequence, plus a naive double reference.
#pragma once

#include <cmath>
#include <cstdint>
#include <ostream>
#include <vector>

#include "hybrec/kernels/attention.h"
#include "testing.h"

namespace hybrec::testing {

struct DecodeShape {
  std::int64_t batch, heads, head_dim, max_len;
};

inline std::ostream& operator<<(std::ostream& os, const DecodeShape& s) {
  return os << "B=" << s.batch << " H=" << s.heads << " D=" << s.head_dim
            << " max_len=" << s.max_len;
}

struct DecodeProblem {
  DecodeShape shape;
  float scale = 0.0f;  // 0 = default 1/sqrt(head_dim)
  std::vector<float> q, k, v;
  std::vector<std::int64_t> lengths;

  // lengths cycle through 1, max_len and random values in between.
  DecodeProblem(const DecodeShape& s, std::uint64_t seed) : shape(s) {
    q = random_floats(static_cast<std::size_t>(s.batch * s.heads * s.head_dim), seed + 1);
    const auto cache = static_cast<std::size_t>(s.batch * s.max_len * s.heads * s.head_dim);
    k = random_floats(cache, seed + 2);
    v = random_floats(cache, seed + 3);
    lengths =
        random_ints<std::int64_t>(static_cast<std::size_t>(s.batch), seed + 4, 1, s.max_len + 1);
    for (std::int64_t b = 0; b < s.batch; ++b) {
      if (b % 3 == 0) lengths[static_cast<std::size_t>(b)] = 1;
      if (b % 3 == 1) lengths[static_cast<std::size_t>(b)] = s.max_len;
    }
  }

  std::size_t out_size() const { return q.size(); }

  // Params with sizes filled in; the caller sets the pointers.
  kernels::AttentionDecodeParams params() const {
    kernels::AttentionDecodeParams p;
    p.batch = shape.batch;
    p.heads = shape.heads;
    p.head_dim = shape.head_dim;
    p.max_len = shape.max_len;
    p.scale = scale;
    return p;
  }

  // softmax(scale q.k_j) v over j < lengths[b], in double.
  std::vector<double> reference() const {
    const std::int64_t H = shape.heads, D = shape.head_dim, L = shape.max_len;
    const double sc = scale > 0.0f ? scale : 1.0 / std::sqrt(static_cast<double>(D));
    std::vector<double> out(out_size(), 0.0);
    for (std::int64_t b = 0; b < shape.batch; ++b) {
      for (std::int64_t h = 0; h < H; ++h) {
        const std::int64_t n = lengths[static_cast<std::size_t>(b)];
        std::vector<double> s(static_cast<std::size_t>(n));
        double mx = -INFINITY, sum = 0.0;
        for (std::int64_t j = 0; j < n; ++j) {
          double dot = 0.0;
          for (std::int64_t d = 0; d < D; ++d) {
            dot += static_cast<double>(q[(b * H + h) * D + d]) * k[((b * L + j) * H + h) * D + d];
          }
          s[j] = sc * dot;
          mx = std::max(mx, s[j]);
        }
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (std::int64_t j = 0; j < n; ++j) {
          for (std::int64_t d = 0; d < D; ++d) {
            out[(b * H + h) * D + d] += s[j] / sum * v[((b * L + j) * H + h) * D + d];
          }
        }
      }
    }
    return out;
  }
};

}  // namespace hybrec::testing
