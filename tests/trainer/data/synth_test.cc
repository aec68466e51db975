// The synthetic generator: deterministic, cold items, topic-revealing text.
#include "trainer/data/synth.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "trainer/data/csv.h"
#include "trainer/data/data_testing.h"
#include "trainer/data/text_hash.h"

namespace hybrec::trainer {
namespace {

using testing::ScratchDir;

SynthOptions small() {
  SynthOptions o;
  o.users = 300;
  o.items = 400;
  o.events_per_user = 12;
  o.topics = 8;
  o.seed = 5;
  return o;
}

TEST(Synth, SameOptionsSameFileBytes) {
  ScratchDir dir;
  write_dataset(generate_synthetic(small()), dir.file("a.h5"));
  write_dataset(generate_synthetic(small()), dir.file("b.h5"));
  EXPECT_EQ(read_file_bytes(dir.file("a.h5")), read_file_bytes(dir.file("b.h5")));
  SynthOptions other = small();
  other.seed = 6;
  EXPECT_NE(generate_synthetic(other).item, generate_synthetic(small()).item);
}

TEST(Synth, ShapeColdFractionAndSplits) {
  const Dataset d = generate_synthetic(small());
  EXPECT_EQ(d.num_users, 300);
  EXPECT_EQ(d.num_items, 400);
  const double per_user = static_cast<double>(d.num_interactions()) / 300;
  EXPECT_GT(per_user, 9);
  EXPECT_LT(per_user, 15);
  int64_t cold = 0, with_events = 0;
  std::vector<uint8_t> has(400, 0);
  for (const int64_t i : d.item) has[i] = 1;
  for (int64_t i = 0; i < 400; ++i) {
    cold += d.item_cold[i];
    with_events += has[i];
  }
  EXPECT_EQ(cold, std::llround(0.2 * with_events));
  int64_t tests = 0;
  for (size_t r = 0; r < d.split.size(); ++r) {
    EXPECT_EQ(d.split[r] == Split::kCold, d.item_cold[d.item[r]] == 1);
    tests += d.split[r] == Split::kTest;
  }
  EXPECT_GT(tests, 250);  // nearly every user has >= 2 warm events
  // Each user's items are distinct.
  for (int64_t u = 0; u < d.num_users; ++u) {
    std::vector<int64_t> items(d.item.begin() + d.user_offsets[u],
                               d.item.begin() + d.user_offsets[u + 1]);
    std::sort(items.begin(), items.end());
    EXPECT_EQ(std::adjacent_find(items.begin(), items.end()), items.end()) << "user " << u;
  }
  EXPECT_EQ(d.text_encoder, "hashing");
  EXPECT_EQ(d.text_dim, kDefaultTextDim);
}

TEST(Synth, SameTopicTextIsCloserThanDifferentTopic) {
  std::vector<int64_t> topic;
  const Dataset d = generate_synthetic(small(), &topic);
  ASSERT_EQ(topic.size(), 400u);
  const int64_t T = d.text_dim, I = d.num_items;
  double same = 0, different = 0;
  int64_t n_same = 0, n_different = 0, nearest_same = 0;
  for (int64_t a = 0; a < I; ++a) {
    double best = -2;
    int64_t best_b = -1;
    for (int64_t b = 0; b < I; ++b) {
      if (b == a) continue;
      double c = 0;
      for (int64_t k = 0; k < T; ++k)
        c += double{d.item_text_emb[a * T + k]} * d.item_text_emb[b * T + k];
      (topic[a] == topic[b] ? same : different) += c;
      ++(topic[a] == topic[b] ? n_same : n_different);
      if (c > best) best = c, best_b = b;
    }
    nearest_same += topic[best_b] == topic[a];
  }
  EXPECT_GT(same / n_same, different / n_different + 0.1)
      << "same " << same / n_same << " different " << different / n_different;
  // The text's nearest neighbour shares the topic for most items (the
  // unique title token and bigrams are what keeps this below 100%).
  EXPECT_GT(nearest_same, I * 80 / 100);
}

}  // namespace
}  // namespace hybrec::trainer
