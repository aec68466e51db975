// The synthetic generator: deterministic, cold items, topic-revealing text.
#include "trainer/data/synth.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"
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

// Statistics of a dataset's events that the planted structure drives: how
// concentrated each user is on one topic, how much of the traffic the most
// popular tenth of the catalogue takes, and the item counts.
struct EventShape {
  double topic_concentration = 0;  // mean over users of their top topic's share
  double head_share = 0;           // events on the 10% most clicked items
  std::vector<double> log_count;   // [I] log(1 + events)
};

EventShape event_shape(const Dataset& d, const std::vector<int64_t>& topic, int64_t topics) {
  EventShape shape;
  std::vector<int64_t> count(static_cast<size_t>(d.num_items), 0);
  for (const int64_t i : d.item) ++count[i];
  for (int64_t u = 0; u < d.num_users; ++u) {
    std::vector<int64_t> per_topic(static_cast<size_t>(topics), 0);
    for (int64_t r = d.user_offsets[u]; r < d.user_offsets[u + 1]; ++r)
      ++per_topic[topic[d.item[r]]];
    const int64_t n = d.user_offsets[u + 1] - d.user_offsets[u];
    shape.topic_concentration +=
        static_cast<double>(*std::max_element(per_topic.begin(), per_topic.end())) / n;
  }
  shape.topic_concentration /= static_cast<double>(d.num_users);
  std::vector<int64_t> sorted = count;
  std::sort(sorted.rbegin(), sorted.rend());
  int64_t head = 0;
  for (size_t k = 0; k < sorted.size() / 10; ++k) head += sorted[k];
  shape.head_share = static_cast<double>(head) / static_cast<double>(d.item.size());
  for (const int64_t c : count) shape.log_count.push_back(std::log1p(static_cast<double>(c)));
  return shape;
}

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const auto n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (size_t k = 0; k < a.size(); ++k) ma += a[k] / n, mb += b[k] / n;
  double ab = 0, aa = 0, bb = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    ab += (a[k] - ma) * (b[k] - mb);
    aa += (a[k] - ma) * (a[k] - ma);
    bb += (b[k] - mb) * (b[k] - mb);
  }
  return ab / std::sqrt(aa * bb);
}

SynthOptions drawn_by_candidates() {
  SynthOptions o = small();
  o.users = 3000;
  o.items = 600;
  o.candidates = 64;
  return o;
}

TEST(SynthCandidates, TheSameDatasetForAnyThreadCount) {
  SynthOptions one = drawn_by_candidates(), three = drawn_by_candidates();
  one.threads = 1;
  three.threads = 3;
  const Dataset a = generate_synthetic(one), b = generate_synthetic(three);
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.item, b.item);
  EXPECT_EQ(a.timestamp, b.timestamp);
  EXPECT_EQ(a.split, b.split);
  EXPECT_EQ(a.item_text, b.item_text);
}

TEST(SynthCandidates, EventsLookLikeTheExactSamplers) {
  SynthOptions exact_options = drawn_by_candidates();
  exact_options.candidates = 0;
  std::vector<int64_t> topic_exact, topic_candidates;
  const Dataset exact = generate_synthetic(exact_options, &topic_exact);
  const Dataset drawn = generate_synthetic(drawn_by_candidates(), &topic_candidates);
  ASSERT_EQ(topic_exact, topic_candidates);  // the same world, drawn before any event
  for (int64_t u = 0; u < drawn.num_users; ++u) {
    std::vector<int64_t> items(drawn.item.begin() + drawn.user_offsets[u],
                               drawn.item.begin() + drawn.user_offsets[u + 1]);
    std::sort(items.begin(), items.end());
    ASSERT_EQ(std::adjacent_find(items.begin(), items.end()), items.end()) << "user " << u;
  }
  const EventShape a = event_shape(exact, topic_exact, drawn_by_candidates().topics);
  const EventShape b = event_shape(drawn, topic_candidates, drawn_by_candidates().topics);
  // Uniform over 600 items would give a head share of 0.1 and, with 8
  // topics, a concentration near 0.3: both samplers are far from that and
  // close to each other.
  EXPECT_GT(a.topic_concentration, 0.4);
  EXPECT_NEAR(b.topic_concentration, a.topic_concentration, 0.03);
  EXPECT_GT(a.head_share, 0.3);
  EXPECT_NEAR(b.head_share, a.head_share, 0.03);
  EXPECT_GT(correlation(a.log_count, b.log_count), 0.9);
}

TEST(SynthCandidates, OutOfRangeCandidatesAreRefused) {
  SynthOptions o = small();
  o.candidates = -1;
  EXPECT_THROW(generate_synthetic(o), Error);
  o.candidates = 5000;
  EXPECT_THROW(generate_synthetic(o), Error);
}

}  // namespace
}  // namespace hybrec::trainer
