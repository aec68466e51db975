// Inputs for the attention tests: seeded q/k/v/dout and the key padding
// patterns the edge cases need (none, mixed with an all-padded sequence and a
// padded first key, random), shared by the CPU and GPU test files.
#pragma once

#include <cstdint>
#include <ostream>
#include <vector>

#include "hybrec/kernels/attention.h"
#include "testing.h"

namespace hybrec::testing {

enum class Padding { kNone, kMixed, kRandom };

struct AttentionShape {
  std::int64_t batch, seq_len, heads, head_dim;
  bool causal;
  Padding padding;
  std::int64_t tokens() const { return batch * seq_len * heads * head_dim; }
};

inline std::ostream& operator<<(std::ostream& os, const AttentionShape& s) {
  const char* pad = s.padding == Padding::kNone    ? "none"
                    : s.padding == Padding::kMixed ? "mixed"
                                                   : "random";
  return os << "B=" << s.batch << " L=" << s.seq_len << " H=" << s.heads << " D=" << s.head_dim
            << " causal=" << s.causal << " padding=" << pad;
}

// kMixed cycles over the batch: sequence 0 unpadded; sequence 1 with its first
// key and its last third padded (so causal query 0 sees no key); sequence 2
// entirely padded. kRandom pads each key with probability ~0.3.
inline std::vector<std::uint8_t> make_padding(const AttentionShape& s, std::uint64_t seed) {
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(s.batch * s.seq_len), 0);
  if (s.padding == Padding::kNone) return mask;
  const auto coin = random_ints<int>(mask.size(), seed, 0, 10);
  for (std::int64_t b = 0; b < s.batch; ++b) {
    for (std::int64_t j = 0; j < s.seq_len; ++j) {
      std::uint8_t& m = mask[static_cast<std::size_t>(b * s.seq_len + j)];
      if (s.padding == Padding::kRandom) {
        m = coin[static_cast<std::size_t>(b * s.seq_len + j)] < 3;
      } else if (b % 3 == 1) {
        m = j == 0 || j >= s.seq_len - s.seq_len / 3;
      } else if (b % 3 == 2) {
        m = 1;
      }
    }
  }
  return mask;
}

struct AttentionProblem {
  AttentionShape shape;
  float scale = 0.0f;  // 0 = default 1/sqrt(head_dim)
  std::vector<float> q, k, v, dout;
  std::vector<std::uint8_t> mask;  // empty when padding is kNone

  AttentionProblem(const AttentionShape& s, std::uint64_t seed) : shape(s) {
    const auto n = static_cast<std::size_t>(s.tokens());
    q = random_floats(n, seed + 1);
    k = random_floats(n, seed + 2);
    v = random_floats(n, seed + 3);
    dout = random_floats(n, seed + 4);
    if (s.padding != Padding::kNone) mask = make_padding(s, seed + 5);
  }

  std::size_t lse_size() const {
    return static_cast<std::size_t>(shape.batch * shape.heads * shape.seq_len);
  }

  // Params with sizes and flags filled in; the caller sets the pointers.
  kernels::AttentionParams params() const {
    kernels::AttentionParams p;
    p.batch = shape.batch;
    p.seq_len = shape.seq_len;
    p.heads = shape.heads;
    p.head_dim = shape.head_dim;
    p.scale = scale;
    p.causal = shape.causal;
    return p;
  }
};

// Host results of one forward + backward on the CPU backend.
struct AttentionResult {
  std::vector<float> out, lse, dq, dk, dv;
};

inline AttentionResult run_cpu_attention(const AttentionProblem& pb, bool backward = true) {
  const std::size_t n = pb.q.size();
  AttentionResult r{std::vector<float>(n), std::vector<float>(pb.lse_size()), {}, {}, {}};
  auto p = pb.params();
  p.key_padding_mask = pb.mask.empty() ? nullptr : pb.mask.data();
  p.q = pb.q.data();
  p.k = pb.k.data();
  p.v = pb.v.data();
  p.out = r.out.data();
  p.lse = r.lse.data();
  kernels::attention_forward(kernels::Device::cpu(), p);
  if (backward) {
    r.dq.assign(n, 0.0f);
    r.dk.assign(n, 0.0f);
    r.dv.assign(n, 0.0f);
    p.dout = pb.dout.data();
    p.dq = r.dq.data();
    p.dk = r.dk.data();
    p.dv = r.dv.data();
    kernels::attention_backward(kernels::Device::cpu(), p);
  }
  return r;
}

// lse holds -inf for fully masked queries: those must match exactly, the rest
// within the tolerance.
template <typename B>
::testing::AssertionResult lse_close(const std::vector<float>& actual,
                                     const std::vector<B>& expected, double atol, double rtol) {
  if (actual.size() != expected.size()) return ::testing::AssertionFailure() << "size mismatch";
  std::vector<double> a, e;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const bool a_inf = std::isinf(actual[i]) && actual[i] < 0;
    const bool e_inf = std::isinf(static_cast<double>(expected[i])) && expected[i] < 0;
    if (a_inf != e_inf) {
      return ::testing::AssertionFailure() << "lse[" << i << "] = " << actual[i] << " vs expected "
                                           << static_cast<double>(expected[i]);
    }
    if (!a_inf) {
      a.push_back(actual[i]);
      e.push_back(static_cast<double>(expected[i]));
    }
  }
  return all_close(a, e, atol, rtol);
}

}  // namespace hybrec::testing
