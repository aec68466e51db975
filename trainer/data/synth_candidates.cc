// The synthetic events by sampling-importance-resampling.
//
// The exact sampler scores every item for every user: O(users x items),
// hours for a million users and 200k items. Here each event instead draws
// `candidates` items from a proposal that needs no per-user work, and picks
// one of them with probability proportional to target / proposal:
//
//   target    p(i)  ~ exp(personal . v_i + log_pop_i
//                          + root_s ((1 - w) c_a . v_i + w c_b . v_i))
//   proposal  q(i)  ~ (1 - w) exp(f_a(i)) + w exp(f_b(i)),
//             f_k(i) = log_pop_i + root_s c_k . v_i
//
// q is a mixture of two per-topic distributions, each drawn in O(1) from an
// alias table built once, and it covers p: by convexity
// exp((1 - w) x + w y) <= (1 - w) e^x + w e^y, so only the user's own
// term personal . v_i (about N(0, 1) in the default world) is left to the
// weights. The popularity cancels in p / q, so a candidate's weight needs
// only its latent vector (three dot products); generation is bound by the
// two cache misses per candidate (its alias entry and its vector). Resampling from N candidates is
// biased by O(1/N) towards q; at the default 64 the item counts agree with the exact sampler's
// closely (synth_test checks it). Seen items get weight 0, so each user's items stay distinct.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

#include "hybrec/kernels/splitmix.h"
#include "trainer/data/synth_world.h"

namespace hybrec::trainer {

namespace {

// Walker's alias table (Vose's construction) over n weights given as logs:
// one uniform column and one coin per draw.
class AliasTable {
 public:
  explicit AliasTable(const std::vector<double>& log_weight) {
    const auto n = static_cast<int64_t>(log_weight.size());
    const double top = *std::max_element(log_weight.begin(), log_weight.end());
    std::vector<double> scaled(static_cast<size_t>(n));
    double total = 0;
    for (int64_t i = 0; i < n; ++i) total += scaled[i] = std::exp(log_weight[i] - top);
    log_total_ = top + std::log(total);
    columns_.resize(static_cast<size_t>(n));
    std::vector<int64_t> small, large;
    for (int64_t i = 0; i < n; ++i) {
      columns_[i] = {1.0f, static_cast<int32_t>(i)};
      scaled[i] *= static_cast<double>(n) / total;
      (scaled[i] < 1.0 ? small : large).push_back(i);
    }
    while (!small.empty() && !large.empty()) {
      const int64_t s = small.back(), l = large.back();
      small.pop_back();
      columns_[s] = {static_cast<float>(scaled[s]), static_cast<int32_t>(l)};
      scaled[l] -= 1.0 - scaled[s];
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    // What is left has weight 1 up to rounding: its column keeps itself.
  }

  int64_t draw(Rng& rng) const {
    const int64_t column = rng.below(static_cast<int64_t>(columns_.size()));
    return rng.uniform() < columns_[column].keep ? column : columns_[column].alias;
  }

  // log of the sum of the weights.
  double log_total() const { return log_total_; }

 private:
  struct Column {
    float keep;     // P(the column's own item)
    int32_t alias;  // the item otherwise
  };
  std::vector<Column> columns_;  // one cache line holds 8: one miss per draw
  double log_total_ = 0;
};

struct UserEvents {
  std::vector<int64_t> user, item, timestamp;
};

// log(e^x + e^y) without overflow.
double log_add(double x, double y) {
  const double hi = std::max(x, y), lo = std::min(x, y);
  return hi + std::log1p(std::exp(lo - hi));
}

class CandidateSampler {
 public:
  CandidateSampler(const SynthWorld& world, const SynthOptions& options)
      : w_(world), o_(options), I_(world.items), D_(world.latent_dim) {
    std::vector<double> f(static_cast<size_t>(I_));
    for (int64_t k = 0; k < w_.topics; ++k) {
      for (int64_t i = 0; i < I_; ++i) f[i] = proposal_log(k, i);
      tables_.emplace_back(f);
    }
  }

  // Users [begin, end) into out, in user order.
  void draw_users(int64_t begin, int64_t end, UserEvents& out) const {
    std::vector<uint8_t> seen(static_cast<size_t>(I_), 0);
    std::vector<int64_t> candidate(static_cast<size_t>(o_.candidates));
    std::vector<double> weight(static_cast<size_t>(o_.candidates));
    for (int64_t u = begin; u < end; ++u) {
      Rng rng(splitmix64(o_.seed) ^ static_cast<uint64_t>(u));
      const UserPlan plan = plan_user(rng, w_, o_);
      const size_t first = out.item.size();
      int64_t time = plan.start_time;
      const int64_t stages = std::min(plan.events, o_.drift_stages);
      for (int64_t s = 0; s < stages; ++s) {
        Stage stage;
        stage.w = (static_cast<double>(s) + 0.5) / static_cast<double>(stages);
        stage.log_stay = std::log1p(-stage.w);
        stage.log_move = std::log(stage.w);
        // P(draw from topic a) = (1 - w) Z_a / ((1 - w) Z_a + w Z_b).
        const double log_a = stage.log_stay + tables_[plan.from].log_total();
        const double log_b = stage.log_move + tables_[plan.to].log_total();
        stage.p_a = 1.0 / (1.0 + std::exp(log_b - log_a));
        const int64_t event_begin = s * plan.events / stages;
        const int64_t event_end = (s + 1) * plan.events / stages;
        for (int64_t e = event_begin; e < event_end; ++e) {
          const int64_t item = draw_event(rng, plan, stage, seen, candidate, weight);
          seen[item] = 1;
          time += 60 + rng.below(86400);
          out.user.push_back(u);
          out.item.push_back(item);
          out.timestamp.push_back(time);
        }
      }
      for (size_t r = first; r < out.item.size(); ++r) seen[out.item[r]] = 0;
    }
  }

 private:
  double proposal_log(int64_t k, int64_t i) const {
    return w_.log_pop[i] + w_.root_s * w_.topic_score[k * I_ + i];
  }

  // A stage of a user's timeline: the drift w and P(propose from topic a).
  struct Stage {
    double w = 0, p_a = 0;
    double log_stay = 0, log_move = 0;  // log(1 - w), log(w)
  };

  // log p(i) - log q(i) up to a constant, from v_i alone:
  //   personal . v + r ((1 - w) c_a . v + w c_b . v)
  //     - log((1 - w) e^{r c_a . v} + w e^{r c_b . v})     (r = root_s)
  double log_ratio_of(const UserPlan& plan, const Stage& stage, int64_t i) const {
    const double* v = &w_.latent[i * D_];
    const double* ca = &w_.centroid[plan.from * D_];
    const double* cb = &w_.centroid[plan.to * D_];
    double own = 0, ta = 0, tb = 0;
    for (int64_t k = 0; k < D_; ++k) {
      own += plan.personal[k] * v[k];
      ta += ca[k] * v[k];
      tb += cb[k] * v[k];
    }
    ta *= w_.root_s;
    tb *= w_.root_s;
    const double w = stage.w;
    return own + (1 - w) * ta + w * tb - log_add(stage.log_stay + ta, stage.log_move + tb);
  }

  int64_t draw_event(Rng& rng, const UserPlan& plan, const Stage& stage,
                     const std::vector<uint8_t>& seen, std::vector<int64_t>& candidate,
                     std::vector<double>& weight) const {
    const int64_t n = o_.candidates;
    // A user's seen items hold at most half the catalogue, so a round with
    // no unseen candidate is rare; 64 rounds nearly never all fail.
    for (int round = 0; round < 64; ++round) {
      // Two passes, so the candidates' cache misses overlap: first their
      // alias entries, then their vectors.
      for (int64_t c = 0; c < n; ++c) {
        candidate[c] = tables_[rng.uniform() < stage.p_a ? plan.from : plan.to].draw(rng);
      }
      double top = -1e300;
      for (int64_t c = 0; c < n; ++c) {
        const int64_t i = candidate[c];
        if (seen[i]) {
          weight[c] = -1e300;
          continue;
        }
        weight[c] = log_ratio_of(plan, stage, i);
        top = std::max(top, weight[c]);
      }
      if (top <= -1e299) continue;
      double total = 0;  // the log weights become weights
      for (int64_t c = 0; c < n; ++c) {
        total += weight[c] = weight[c] <= -1e299 ? 0.0 : std::exp(weight[c] - top);
      }
      double x = rng.uniform() * total;
      for (int64_t c = 0; c < n; ++c) {
        x -= weight[c];
        if (x < 0 && weight[c] > 0) return candidate[c];
      }
      for (int64_t c = n - 1; c >= 0; --c) {  // rounding left x just above 0
        if (weight[c] > 0) return candidate[c];
      }
    }
    int64_t item = 0;  // a very peaked distribution: take the first unseen item
    while (seen[item]) ++item;
    return item;
  }

  const SynthWorld& w_;
  const SynthOptions& o_;
  const int64_t I_, D_;
  std::vector<AliasTable> tables_;  // [K] the per-topic proposals
};

}  // namespace

void draw_events_by_candidates(const SynthWorld& world, const SynthOptions& options, Dataset& d) {
  const CandidateSampler sampler(world, options);
  const int64_t hardware = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t threads =
      std::clamp<int64_t>(options.threads > 0 ? options.threads : hardware, 1, options.users);
  std::vector<UserEvents> parts(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (int64_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      sampler.draw_users(t * options.users / threads, (t + 1) * options.users / threads, parts[t]);
    });
  }
  for (std::thread& worker : workers) worker.join();
  for (UserEvents& part : parts) {
    d.user.insert(d.user.end(), part.user.begin(), part.user.end());
    d.item.insert(d.item.end(), part.item.begin(), part.item.end());
    d.timestamp.insert(d.timestamp.end(), part.timestamp.begin(), part.timestamp.end());
    part = UserEvents();
  }
  d.rating.assign(d.item.size(), 1.0f);
}

}  // namespace hybrec::trainer
