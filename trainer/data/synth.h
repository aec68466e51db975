// The synthetic dataset: the embedded demo, built so that every part of the
// hybrid model has something to find.
//
//   * K planted topics. Each has a unit centroid c_k in R^D; item i has a
//     topic t(i) (balanced, shuffled) and a latent vector
//     v_i = sqrt(s) c_t(i) + item-specific Gaussian noise.
//   * Zipf popularity: items get random ranks r_i = 1..I and log popularity
//     -a ln r_i.
//   * Users drift: user u moves from topic a_u to topic b_u over their
//     timeline; at fraction w of it their preference is
//     p_u(w) = sqrt(s) ((1 - w) c_a + w c_b) + user-specific noise, so the
//     latest history predicts the next item better than the user's average.
//   * Each event is drawn without replacement from softmax over items of
//     p_u(w) . v_i + log popularity (w is held constant over a few stages
//     of the timeline, which keeps generation fast).
//   * Item text: a title token of its own, 8-12 words from its topic's
//     vocabulary (40 made-up words per topic, drawn Zipf-distributed so a
//     topic has head words most of its items share), 2-3 words of a common
//     vocabulary and, for about a third of items, one word of another
//     topic. The text reveals the topic but neither the item's own latent
//     noise nor its popularity: text-only models lose to CF on warm items,
//     CF-only models cannot rank cold items.
//   * cold_fraction of the items (among those with events) are cold; their
//     events are kCold. Then the splits are assigned and the text encoded.
//
// The result depends only on the options: the same options give the same
// dataset, and so the same file contents.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/data/text_hash.h"

namespace hybrec::trainer {

// The defaults, in one place (the demo's size and difficulty).
inline constexpr int64_t kSynthUsers = 6000;
inline constexpr int64_t kSynthItems = 3000;
inline constexpr double kSynthEventsPerUser = 25.0;
inline constexpr int64_t kSynthTopics = 16;
inline constexpr double kSynthColdFraction = 0.2;

struct SynthOptions {
  int64_t users = kSynthUsers;
  int64_t items = kSynthItems;
  double events_per_user = kSynthEventsPerUser;  // mean; every user gets at least 3
  int64_t topics = kSynthTopics;
  double cold_fraction = kSynthColdFraction;
  uint64_t seed = 1;
  int64_t text_dim = kDefaultTextDim;

  int64_t latent_dim = 16;      // D
  double topic_strength = 4.0;  // s: p . v is about s for an on-topic item
  double item_noise = 1.5;      // norm of an item's own latent part
  double user_noise = 1.5;      // norm of a user's own latent part
  double zipf_exponent = 1.0;   // a
  int64_t words_per_topic = 40;
  int64_t common_words = 60;
  int64_t drift_stages = 4;  // w is constant within each stage

  int64_t candidates = 0;  // 0: the exact softmax; N: resample each event from N candidates
  int64_t threads = 0;     // the candidate sampler's threads, 0 = all cores (same result for any)
};

// Throws hybrec::Error naming the bad option (e.g. "synth: topics 0 out of
// range [1, items]"). When `item_topic` is given it receives each item's
// planted topic (for tests and analyses; the file does not store it).
Dataset generate_synthetic(const SynthOptions& options = SynthOptions(),
                           std::vector<int64_t>* item_topic = nullptr);

}  // namespace hybrec::trainer
