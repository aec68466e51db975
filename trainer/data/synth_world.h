// The planted structure behind the synthetic dataset (synth.h), shared by its
// two event samplers: the exact one in synth.cc (a softmax over every item
// for every user, O(items) per user) and the candidate one in
// synth_candidates.cc (O(candidates) per event, users in parallel, for
// catalogues of 10^5 items and more).
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/data/rng.h"
#include "trainer/data/synth.h"

namespace hybrec::trainer {

struct SynthWorld {
  int64_t topics = 0, items = 0, latent_dim = 0;
  double root_s = 0;                // sqrt(topic_strength)
  std::vector<double> centroid;     // [K, D] c_k
  std::vector<int64_t> topic;       // [I] each item's planted topic
  std::vector<double> latent;       // [I, D] v_i
  std::vector<double> log_pop;      // [I] -a ln rank_i
  std::vector<double> topic_score;  // [K, I] c_k . v_i
};

// One user's draw before their events: the topic drift from -> to, their own
// latent part, how many events and when the first happens.
struct UserPlan {
  int64_t from = 0, to = 0;
  std::vector<double> personal;  // [D]
  int64_t events = 0;
  int64_t start_time = 0;
};

// A random vector in R^dim with the given norm.
std::vector<double> unit_gaussian(Rng& rng, int64_t dim, double norm);

// Draws one user's plan from rng (the same draws, in the same order, for
// both samplers).
UserPlan plan_user(Rng& rng, const SynthWorld& world, const SynthOptions& options);

// The candidate sampler: appends every user's events (user, item, rating 1,
// timestamp; each user's items distinct and in time order) to d. User u's
// draws come from its own generator seeded by (options.seed, u), so the
// result does not depend on options.threads.
void draw_events_by_candidates(const SynthWorld& world, const SynthOptions& options, Dataset& d);

}  // namespace hybrec::trainer
