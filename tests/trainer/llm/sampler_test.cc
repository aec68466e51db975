// The sampler and the decode loop on hand-made logits.
#include "trainer/llm/sampler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::llm {
namespace {

const std::vector<float> kLogits{0.5f, 2.0f, -1.0f, 1.9f, 0.0f, -3.0f};

TEST(Sampler, GreedyPicksTheArgmax) {
  Sampler s(SamplerConfig{});
  EXPECT_EQ(s.sample(kLogits, {}), 1);
  EXPECT_EQ(argmax({3.0f, 3.0f, 1.0f}), 0);  // lowest id among ties
}

TEST(Sampler, TopKOfOneEqualsGreedy) {
  SamplerConfig c;
  c.temperature = 1.5f;
  c.top_k = 1;
  Sampler s(c);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(kLogits, {}), 1);
}

TEST(Sampler, SameSeedSameTokensAndOtherSeedsDiffer) {
  SamplerConfig c;
  c.temperature = 2.0f;
  c.seed = 42;
  auto draw = [&](uint64_t seed) {
    c.seed = seed;
    Sampler s(c);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.sample(kLogits, {}));
    return out;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
}

TEST(Sampler, TopKAndTopPRestrictTheDraw) {
  SamplerConfig c;
  c.temperature = 5.0f;
  c.top_k = 2;
  Sampler k2(c);
  for (int i = 0; i < 200; ++i) {
    const int32_t t = k2.sample(kLogits, {});
    EXPECT_TRUE(t == 1 || t == 3) << t;
  }
  c.top_k = 0;
  c.temperature = 1.0f;
  c.top_p = 0.05f;  // the top token alone holds more than 5%
  Sampler p(c);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(p.sample(kLogits, {}), 1);
}

TEST(Sampler, RepetitionPenaltyLowersASeenToken) {
  std::vector<float> l = kLogits;
  apply_repetition_penalty(&l, {1, 1, 2}, 2.0f);
  EXPECT_FLOAT_EQ(l[1], 1.0f);   // positive: divided, once despite repeats
  EXPECT_FLOAT_EQ(l[2], -2.0f);  // negative: multiplied
  EXPECT_FLOAT_EQ(l[3], 1.9f);   // unseen: unchanged
  SamplerConfig c;
  c.repetition_penalty = 2.0f;
  Sampler s(c);
  EXPECT_EQ(s.sample(kLogits, {1}), 3);  // greedy moves off the seen token
}

TEST(Sampler, RejectsBadConfig) {
  SamplerConfig c;
  c.top_p = 0.0f;
  try {
    Sampler s(c);
    FAIL() << "expected an error";
  } catch (const hybrec::Error& e) {
    EXPECT_NE(std::string(e.what()).find("top_p must be in (0, 1], got 0"), std::string::npos);
  }
}

TEST(Generate, StopTokenEndsAndMaxNewTokensBounds) {
  // A fake model: after token t, token t + 1 is the argmax.
  auto step = [](int32_t t) {
    std::vector<float> l(10, 0.0f);
    l[static_cast<std::size_t>((t + 1) % 10)] = 5.0f;
    return l;
  };
  std::vector<float> first(10, 0.0f);
  first[2] = 5.0f;
  SamplerConfig c;
  c.stop_tokens = {5};
  c.max_new_tokens = 20;
  Sampler s(c);
  const Generation g = generate(first, step, &s, {0, 1});
  EXPECT_EQ(g.tokens, (std::vector<int32_t>{2, 3, 4, 5}));
  EXPECT_TRUE(g.stopped);

  c.stop_tokens = {};
  c.max_new_tokens = 3;
  Sampler s2(c);
  const Generation g2 = generate(first, step, &s2, {});
  EXPECT_EQ(g2.tokens, (std::vector<int32_t>{2, 3, 4}));
  EXPECT_FALSE(g2.stopped);
}

}  // namespace
}  // namespace hybrec::llm
