// Causal decoding on the CPU backend: a two-layer stack's prefill over packed
// sequences of mixed lengths, then decode steps one token at a time, equal
// the causal forward of the whole sequences row for row (within
// atol 1e-5 + rtol 1e-4, measured 7e-7 at worst: the decode attention sums
// over keys in another order than the packed attention). The prefill leaves
// each layer's keys and values in their cache slots and zeros elsewhere;
// decoding from an empty cache works too; bad lengths are rejected.
#include "trainer/nn/kv_cache.h"

#include <gtest/gtest.h>

#include <cmath>

#include "block_testing.h"
#include "hybrec/kernels/error.h"

namespace hybrec::nn {
namespace {

namespace k = hybrec::kernels;
using testing::FlatLayout;
using testing::Packing;

constexpr double kAtol = 1e-5, kRtol = 1e-4;

BlockShape causal_shape() {
  BlockShape s;
  s.dim = 16;
  s.heads = 4;
  s.hidden = 32;
  s.eps = 1e-6f;
  s.causal = true;
  return s;
}

// A stack of `layers` blocks and the whole sequences' inputs, [total rows,
// dim] packed in sequence order.
struct Decoder {
  BlockShape shape = causal_shape();
  std::vector<std::vector<float>> params;
  explicit Decoder(int64_t layers) {
    for (int64_t l = 0; l < layers; ++l)
      params.push_back(testing::random_block(shape, 40 + static_cast<uint64_t>(l)));
  }
  BlockWeights weights(std::size_t l) const { return FlatLayout(shape).tensors(params[l].data()); }

  // The causal forward of whole packed sequences through the stack.
  std::vector<float> full(const Packing& packing, std::vector<float> x) const {
    BlockInferenceScratch scratch;
    for (std::size_t l = 0; l < params.size(); ++l)
      block_inference(k::Device::cpu(), shape, weights(l), packing.packed(), x.data(), &scratch,
                      x.data());
    return x;
  }
};

// Row t of sequence s in a packing.
int64_t row_of(const Packing& p, int64_t s, int64_t t) {
  int64_t row = 0;
  for (int64_t i = 0; i < s; ++i) row += p.lengths[i];
  return row + t;
}

void expect_rows_close(const float* got, const float* want, int64_t dim, const char* what,
                       int64_t s, int64_t t) {
  for (int64_t j = 0; j < dim; ++j) {
    ASSERT_NEAR(got[j], want[j], kAtol + kRtol * std::fabs(want[j]))
        << what << ": sequence " << s << " position " << t << " value " << j;
  }
}

// Prefill lengths `prompt` (0 = start from an empty cache), then `steps`
// decode steps, against the causal forward of the prompt + steps rows.
void check_decode(const std::vector<int64_t>& prompt, int64_t steps) {
  const Decoder dec(2);
  const int64_t d = dec.shape.dim, batch = static_cast<int64_t>(prompt.size());
  std::vector<int64_t> whole;
  for (int64_t n : prompt) whole.push_back(n + steps);
  const Packing all(whole);
  const std::vector<float> x = testing::random_values(3, all.rows * d, 1.0f);
  const std::vector<float> want = dec.full(all, x);

  int64_t max_len = 0;
  for (int64_t n : whole) max_len = std::max(max_len, n);
  std::vector<KvCache> caches(dec.params.size());
  BlockInferenceScratch scratch;
  const bool prefill = prompt.front() > 0;
  if (prefill) {
    const Packing first(prompt);
    std::vector<float> h(static_cast<std::size_t>(first.rows * d));
    for (int64_t s = 0; s < batch; ++s)
      for (int64_t t = 0; t < prompt[s]; ++t)
        std::copy_n(x.data() + row_of(all, s, t) * d, d, h.data() + row_of(first, s, t) * d);
    PrefillRows rows;
    make_prefill_rows(k::Device::cpu(), first.packed(), max_len, &rows);
    for (std::size_t l = 0; l < caches.size(); ++l)
      block_prefill(k::Device::cpu(), dec.shape, dec.weights(l), first.packed(), rows, h.data(),
                    &scratch, &caches[l], h.data());
    for (int64_t s = 0; s < batch; ++s)
      for (int64_t t = 0; t < prompt[s]; ++t)
        expect_rows_close(h.data() + row_of(first, s, t) * d, want.data() + row_of(all, s, t) * d,
                          d, "prefill", s, t);
  } else {
    for (KvCache& c : caches) c.reset(k::Device::cpu(), dec.shape, batch, max_len);
  }

  DecodeStep step;
  std::vector<float> tok(static_cast<std::size_t>(batch * d));
  std::vector<int64_t> lengths(static_cast<std::size_t>(batch));
  for (int64_t i = 0; i < steps; ++i) {
    for (int64_t s = 0; s < batch; ++s) {
      lengths[s] = prompt[s] + i + 1;
      std::copy_n(x.data() + row_of(all, s, prompt[s] + i) * d, d, tok.data() + s * d);
    }
    make_decode_step(k::Device::cpu(), lengths.data(), batch, max_len, &step);
    for (std::size_t l = 0; l < caches.size(); ++l)
      block_decode(k::Device::cpu(), dec.shape, dec.weights(l), step, tok.data(), &scratch,
                   &caches[l], tok.data());
    for (int64_t s = 0; s < batch; ++s)
      expect_rows_close(tok.data() + s * d, want.data() + row_of(all, s, prompt[s] + i) * d, d,
                        "decode", s, prompt[s] + i);
  }
}

TEST(KvCache, PrefillThenDecodeStepsEqualTheCausalForward) { check_decode({3, 1, 1, 5, 2}, 4); }

TEST(KvCache, DecodeFromAnEmptyCacheEqualsTheCausalForward) { check_decode({0, 0, 0}, 6); }

// Slot (s, p) holds the layer's key and value of packed row p of sequence s,
// and every slot past a sequence's length is zero, as the decode step needs.
TEST(KvCache, PrefillWritesEveryRowsSlotAndZeroesTheRest) {
  const Decoder dec(1);
  const int64_t d = dec.shape.dim, max_len = 6;
  const Packing packing({2, 4, 1});
  const std::vector<float> x = testing::random_values(8, packing.rows * d, 1.0f);
  PrefillRows rows;
  make_prefill_rows(k::Device::cpu(), packing.packed(), max_len, &rows);
  KvCache cache;
  cache.reset(k::Device::cpu(), dec.shape, 3, max_len);
  for (std::size_t i = 0; i < cache.k.size(); ++i) cache.k.data()[i] = 7.0f;  // stale contents
  BlockInferenceScratch scratch;
  std::vector<float> y(x.size());
  block_prefill(k::Device::cpu(), dec.shape, dec.weights(0), packing.packed(), rows, x.data(),
                &scratch, &cache, y.data());
  for (int64_t s = 0; s < 3; ++s)
    for (int64_t p = 0; p < max_len; ++p)
      for (int64_t j = 0; j < d; ++j) {
        const float got_k = cache.k.data()[(s * max_len + p) * d + j];
        const float got_v = cache.v.data()[(s * max_len + p) * d + j];
        if (p < packing.lengths[s]) {
          const int64_t r = row_of(packing, s, p);
          ASSERT_EQ(got_k, scratch.k.data()[r * d + j]) << s << "," << p;
          ASSERT_EQ(got_v, scratch.v.data()[r * d + j]) << s << "," << p;
        } else {
          ASSERT_EQ(got_k, 0.0f) << s << "," << p;
          ASSERT_EQ(got_v, 0.0f) << s << "," << p;
        }
      }
}

TEST(KvCache, RejectsLengthsOutsideTheCacheAndNonCausalShapes) {
  DecodeStep step;
  const int64_t too_long[] = {1, 5};
  EXPECT_THROW(make_decode_step(k::Device::cpu(), too_long, 2, 4, &step), Error);
  const int64_t empty[] = {0};
  EXPECT_THROW(make_decode_step(k::Device::cpu(), empty, 1, 4, &step), Error);
  const Packing packing({5});
  PrefillRows rows;
  EXPECT_THROW(make_prefill_rows(k::Device::cpu(), packing.packed(), 4, &rows), Error);

  Decoder dec(1);
  dec.shape.causal = false;
  KvCache cache;
  cache.reset(k::Device::cpu(), dec.shape, 1, 4);
  const int64_t one[] = {1};
  make_decode_step(k::Device::cpu(), one, 1, 4, &step);
  std::vector<float> tok(static_cast<std::size_t>(dec.shape.dim));
  BlockInferenceScratch scratch;
  EXPECT_THROW(block_decode(k::Device::cpu(), dec.shape, dec.weights(0), step, tok.data(), &scratch,
                            &cache, tok.data()),
               Error);
}

}  // namespace
}  // namespace hybrec::nn
