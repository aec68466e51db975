#include "trainer/data/synth.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"
#include "hybrec/kernels/host_memory.h"
#include "trainer/data/builder.h"
#include "trainer/data/rng.h"
#include "trainer/data/synth_world.h"

namespace hybrec::trainer {

namespace {

constexpr int64_t kMinEventsPerUser = 3;  // enough for a train, valid and test event

void check_options(const SynthOptions& o) {
  HYBREC_CHECK(o.users >= 1 && o.users <= (int64_t{1} << 30), "synth: users ", o.users,
               " out of range [1, 2^30]");
  HYBREC_CHECK(o.items >= 2 * kMinEventsPerUser && o.items <= (int64_t{1} << 26), "synth: items ",
               o.items, " out of range [", 2 * kMinEventsPerUser, ", 2^26]");
  HYBREC_CHECK(o.topics >= 1 && o.topics <= o.items, "synth: topics ", o.topics,
               " out of range [1, items = ", o.items, "]");
  HYBREC_CHECK(o.events_per_user >= kMinEventsPerUser && o.events_per_user <= 1e5,
               "synth: events per user ", o.events_per_user, " out of range [", kMinEventsPerUser,
               ", 1e5]");
  HYBREC_CHECK(
      o.latent_dim >= 1 && o.drift_stages >= 1 && o.words_per_topic >= 1 && o.common_words >= 1,
      "synth: latent_dim, drift_stages, words_per_topic and common_words must be >= 1");
  HYBREC_CHECK(o.candidates >= 0 && o.candidates <= 4096, "synth: candidates ", o.candidates,
               " out of range [0, 4096]");
}

// The bytes generate_synthetic holds at its peak, in double so that absurd
// options cannot overflow: the [K, I] topic scores and [I, D] latents, the
// per-item work arrays, the events (user, item, rating, timestamp, split,
// twice: finalize sorts a copy) and the item text with its embeddings; the
// candidate sampler adds its [K, I] alias tables.
double synth_memory_bytes(const SynthOptions& o) {
  const double items = static_cast<double>(o.items), topics = static_cast<double>(o.topics);
  const double per_user = std::min(items / 2, o.events_per_user);
  const double events = static_cast<double>(o.users) * per_user;
  const double event_bytes = 2 * (8 + 8 + 4 + 8 + 1);
  const double text_bytes = 128 + 4 * static_cast<double>(o.text_dim);
  const double alias_bytes = o.candidates > 0 ? 12 * topics * items : 0;
  return 8 * topics * items + alias_bytes + 8 * items * static_cast<double>(o.latent_dim) +
         6 * 8 * items + event_bytes * events + text_bytes * items;
}

double dot(const std::vector<double>& a, const double* b) {
  double s = 0;
  for (size_t k = 0; k < a.size(); ++k) s += a[k] * b[k];
  return s;
}

// Made-up words: 2-3 consonant-vowel syllables, each one distinct.
class WordMaker {
 public:
  explicit WordMaker(Rng& rng) : rng_(rng) {}
  std::string make() {
    static const char* const kOnsets[] = {"b", "d", "f", "g", "k",  "l",  "m",  "n",  "p",  "r",
                                          "s", "t", "v", "z", "br", "dr", "kl", "st", "tr", "sh"};
    static const char* const kVowels[] = {"a", "e", "i", "o", "u", "ai", "ou", "y"};
    while (true) {
      std::string word;
      const int64_t syllables = 2 + rng_.below(2);
      for (int64_t s = 0; s < syllables; ++s) {
        word += kOnsets[rng_.below(20)];
        word += kVowels[rng_.below(8)];
      }
      if (used_.insert(word).second) return word;
    }
  }

 private:
  Rng& rng_;
  std::set<std::string> used_;
};

// An index in [0, n) with P(k) proportional to 1 / (k + 1).
size_t zipf_index(Rng& rng, size_t n) {
  double total = 0;
  for (size_t k = 0; k < n; ++k) total += 1.0 / static_cast<double>(k + 1);
  double x = rng.uniform() * total;
  for (size_t k = 0; k < n; ++k) {
    x -= 1.0 / static_cast<double>(k + 1);
    if (x < 0) return k;
  }
  return n - 1;
}

std::string item_text(Rng& rng, const std::string& title, const std::vector<std::string>& topic,
                      const std::vector<std::string>& other_topic,
                      const std::vector<std::string>& common) {
  std::vector<std::string> words;
  // Topic words are Zipf-distributed, like words in real text: a topic's
  // head words appear in most of its items, its tail words in few.
  const int64_t n_topic = 8 + rng.below(5);
  for (int64_t k = 0; k < n_topic; ++k) words.push_back(topic[zipf_index(rng, topic.size())]);
  const int64_t n_common = 2 + rng.below(2);
  for (int64_t k = 0; k < n_common; ++k) {
    words.push_back(common[rng.below(static_cast<int64_t>(common.size()))]);
  }
  if (rng.uniform() < 1.0 / 3.0) {
    words.push_back(other_topic[rng.below(static_cast<int64_t>(other_topic.size()))]);
  }
  rng.shuffle(words);
  std::string text = title;
  text[0] = static_cast<char>(text[0] - 'a' + 'A');
  text += ":";
  for (const std::string& w : words) text += " " + w;
  return text;
}

}  // namespace

std::vector<double> unit_gaussian(Rng& rng, int64_t dim, double norm) {
  std::vector<double> v(static_cast<size_t>(dim));
  double sq = 0;
  for (double& x : v) {
    x = rng.normal();
    sq += x * x;
  }
  const double scale = sq > 0 ? norm / std::sqrt(sq) : 0;
  for (double& x : v) x *= scale;
  return v;
}

UserPlan plan_user(Rng& rng, const SynthWorld& world, const SynthOptions& o) {
  UserPlan plan;
  const int64_t K = world.topics;
  plan.from = rng.below(K);
  plan.to = K > 1 ? (plan.from + 1 + rng.below(K - 1)) % K : plan.from;
  plan.personal = unit_gaussian(rng, o.latent_dim, o.user_noise);
  // Exponentially distributed beyond the minimum, with the requested mean.
  const double extra = -(o.events_per_user - kMinEventsPerUser) * std::log(1.0 - rng.uniform());
  plan.events = std::min<int64_t>(world.items / 2, kMinEventsPerUser + std::llround(extra));
  plan.start_time = 1'600'000'000 + rng.below(365 * 86400);
  return plan;
}

namespace {

// The planted topics, item latents and popularity, drawn from rng.
SynthWorld make_world(Rng& rng, const SynthOptions& o) {
  SynthWorld w;
  w.topics = o.topics;
  w.items = o.items;
  w.latent_dim = o.latent_dim;
  w.root_s = std::sqrt(o.topic_strength);
  const auto D = static_cast<size_t>(o.latent_dim);
  const int64_t K = o.topics, I = o.items;

  std::vector<std::vector<double>> centroid;
  for (int64_t k = 0; k < K; ++k) {
    centroid.push_back(unit_gaussian(rng, o.latent_dim, 1.0));
    w.centroid.insert(w.centroid.end(), centroid.back().begin(), centroid.back().end());
  }

  w.topic.resize(static_cast<size_t>(I));
  for (int64_t i = 0; i < I; ++i) w.topic[i] = i % K;
  rng.shuffle(w.topic);
  // [I, D] item latents and log popularity.
  w.latent.resize(static_cast<size_t>(I) * D);
  for (int64_t i = 0; i < I; ++i) {
    const std::vector<double> noise = unit_gaussian(rng, o.latent_dim, o.item_noise);
    for (size_t k = 0; k < D; ++k)
      w.latent[i * D + k] = w.root_s * centroid[w.topic[i]][k] + noise[k];
  }
  std::vector<int64_t> rank(static_cast<size_t>(I));
  for (int64_t i = 0; i < I; ++i) rank[i] = i + 1;
  rng.shuffle(rank);
  w.log_pop.resize(static_cast<size_t>(I));
  for (int64_t i = 0; i < I; ++i)
    w.log_pop[i] = -o.zipf_exponent * std::log(static_cast<double>(rank[i]));
  // [K, I] c_k . v_i, so a user's drifting score is a mix of two rows.
  w.topic_score.resize(static_cast<size_t>(K * I));
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t i = 0; i < I; ++i) w.topic_score[k * I + i] = dot(centroid[k], &w.latent[i * D]);
  }
  return w;
}

// The exact sampler: every user's softmax over all items, from the one rng.
void draw_events_exact(Rng& rng, const SynthWorld& world, const SynthOptions& o, Dataset& d) {
  const auto D = static_cast<size_t>(o.latent_dim);
  const int64_t I = o.items;
  const double root_s = world.root_s;
  const std::vector<double>& topic_score = world.topic_score;
  std::vector<double> own(static_cast<size_t>(I)), cumulative(static_cast<size_t>(I));
  std::vector<uint8_t> seen(static_cast<size_t>(I), 0);
  for (int64_t u = 0; u < o.users; ++u) {
    const UserPlan plan = plan_user(rng, world, o);
    const int64_t from = plan.from, to = plan.to, n = plan.events;
    for (int64_t i = 0; i < I; ++i)
      own[i] = dot(plan.personal, &world.latent[i * D]) + world.log_pop[i];
    int64_t time = plan.start_time;
    const int64_t stages = std::min(n, o.drift_stages);
    for (int64_t s = 0; s < stages; ++s) {
      const double w = (static_cast<double>(s) + 0.5) / static_cast<double>(stages);
      double max_logit = -1e300;
      for (int64_t i = 0; i < I; ++i) {
        cumulative[i] =
            own[i] + root_s * ((1 - w) * topic_score[from * I + i] + w * topic_score[to * I + i]);
        max_logit = std::max(max_logit, cumulative[i]);
      }
      double total = 0;
      for (int64_t i = 0; i < I; ++i) {
        total += std::exp(cumulative[i] - max_logit);
        cumulative[i] = total;
      }
      const int64_t begin = s * n / stages, end = (s + 1) * n / stages;
      for (int64_t e = begin; e < end; ++e) {
        int64_t item = -1;
        // Rejection keeps events distinct; a user's seen items hold at
        // most half the catalogue, so a handful of tries nearly always do.
        for (int tries = 0; tries < 64 && item < 0; ++tries) {
          const double x = rng.uniform() * total;
          const int64_t pick =
              std::min<int64_t>(I - 1, std::upper_bound(cumulative.begin(), cumulative.end(), x) -
                                           cumulative.begin());
          if (!seen[pick]) item = pick;
        }
        if (item < 0) {  // a very peaked distribution: take the first unseen item
          item = 0;
          while (seen[item]) ++item;
        }
        seen[item] = 1;
        time += 60 + rng.below(86400);
        d.user.push_back(u);
        d.item.push_back(item);
        d.rating.push_back(1.0f);
        d.timestamp.push_back(time);
      }
    }
    for (int64_t r = static_cast<int64_t>(d.item.size()) - n;
         r < static_cast<int64_t>(d.item.size()); ++r) {
      seen[d.item[r]] = 0;
    }
  }
}

}  // namespace

Dataset generate_synthetic(const SynthOptions& o, std::vector<int64_t>* item_topic) {
  check_options(o);
  kernels::check_host_memory(synth_memory_bytes(o), "synth: " + std::to_string(o.users) +
                                                        " users x " + std::to_string(o.items) +
                                                        " items x " + std::to_string(o.topics) +
                                                        " topics");
  Rng rng(o.seed);
  const int64_t K = o.topics, I = o.items;
  const SynthWorld world = make_world(rng, o);
  const std::vector<int64_t>& topic = world.topic;

  Dataset d;
  d.name = "synth";
  d.num_users = o.users;
  d.num_items = I;
  if (o.candidates > 0) {
    draw_events_by_candidates(world, o, d);
  } else {
    draw_events_exact(rng, world, o, d);
  }

  // Text: one vocabulary per topic, one common to all, a title per item.
  WordMaker words(rng);
  std::vector<std::vector<std::string>> vocab(static_cast<size_t>(K));
  for (auto& list : vocab) {
    for (int64_t w = 0; w < o.words_per_topic; ++w) list.push_back(words.make());
  }
  std::vector<std::string> common;
  for (int64_t w = 0; w < o.common_words; ++w) common.push_back(words.make());
  d.item_text.resize(static_cast<size_t>(I));
  for (int64_t i = 0; i < I; ++i) {
    const int64_t other = K > 1 ? (topic[i] + 1 + rng.below(K - 1)) % K : topic[i];
    d.item_text[i] = item_text(rng, words.make(), vocab[topic[i]], vocab[other], common);
  }
  complete_dataset(d, o.cold_fraction, o.seed, o.text_dim);
  if (item_topic != nullptr) *item_topic = topic;
  return d;
}

}  // namespace hybrec::trainer
