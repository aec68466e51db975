#include "trainer/eval/explanation_eval.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "hybrec/kernels/error.h"
#include "trainer/data/rng.h"

namespace hybrec::trainer {

namespace {

using Key = std::pair<int64_t, int64_t>;

std::vector<UserItem> distinct_pairs(const std::vector<UserItem>& pairs) {
  std::set<Key> seen;
  std::vector<UserItem> out;
  for (const UserItem& p : pairs) {
    if (seen.insert({p.user, p.item}).second) out.push_back(p);
  }
  return out;
}

// The scored pairs: those with a reference, at most max_pairs of them, in
// the offered order.
std::vector<UserItem> scored_pairs(const std::vector<UserItem>& with_reference, int64_t max_pairs,
                                   uint64_t seed) {
  if (max_pairs == 0 || static_cast<int64_t>(with_reference.size()) <= max_pairs) {
    return with_reference;
  }
  std::vector<size_t> order(with_reference.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng rng(seed);
  rng.shuffle(order);
  order.resize(static_cast<size_t>(max_pairs));
  std::sort(order.begin(), order.end());
  std::vector<UserItem> out;
  for (const size_t i : order) out.push_back(with_reference[i]);
  return out;
}

// The personalisation check's groups: per chosen item, its users.
std::vector<std::vector<UserItem>> personalisation_groups(const std::vector<UserItem>& candidates,
                                                          const ExplanationEvalOptions& options) {
  std::map<int64_t, std::vector<int64_t>> users_of;
  for (const UserItem& p : distinct_pairs(candidates)) users_of[p.item].push_back(p.user);
  std::vector<std::pair<int64_t, const std::vector<int64_t>*>> items;
  for (const auto& [item, users] : users_of) {
    if (users.size() >= 2) items.emplace_back(item, &users);
  }
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    return a.second->size() > b.second->size();  // ties keep ascending item ids
  });
  std::vector<std::vector<UserItem>> groups;
  for (const auto& [item, users] : items) {
    if (static_cast<int64_t>(groups.size()) == options.personalisation_items) break;
    std::vector<UserItem> group;
    std::set<std::vector<int64_t>> histories;
    for (const int64_t user : *users) {
      if (static_cast<int64_t>(group.size()) == options.users_per_item) break;
      if (options.history && !histories.insert(options.history(user)).second) continue;
      group.push_back(UserItem{user, item});
    }
    if (group.size() >= 2) groups.push_back(std::move(group));
  }
  return groups;
}

// Explains each distinct pair once, in first-asked order.
class Explanations {
 public:
  Explanations(const ExplainFn& explain, const ExplanationEvalOptions& options)
      : explain_(explain), options_(options) {}

  void plan(const UserItem& p) {
    if (planned_.insert({p.user, p.item}).second) order_.push_back(p);
  }

  void run() {
    const auto total = static_cast<int64_t>(order_.size());
    for (const UserItem& p : order_) {
      Explanation e;
      try {
        e = explain_(p.user, p.item);
      } catch (const std::exception& error) {
        HYBREC_THROW("explaining user ", p.user, ", item ", p.item, ": ", error.what());
      }
      done_.emplace(Key{p.user, p.item}, std::move(e));
      if (options_.on_progress) options_.on_progress(static_cast<int64_t>(done_.size()), total);
    }
  }

  const Explanation& of(const UserItem& p) const { return done_.at({p.user, p.item}); }
  int64_t count() const { return static_cast<int64_t>(done_.size()); }

 private:
  const ExplainFn& explain_;
  const ExplanationEvalOptions& options_;
  std::set<Key> planned_;
  std::vector<UserItem> order_;
  std::map<Key, Explanation> done_;
};

double aspects_in_sentence(const std::vector<Tokens>& sentences,
                           const std::vector<const Explanation*>& explanations) {
  int64_t listing = 0, used = 0;
  for (size_t k = 0; k < sentences.size(); ++k) {
    bool any = false, found = false;
    for (const std::string& aspect : explanations[k]->aspects) {
      const Tokens words = tokenize_words(aspect);
      if (words.empty()) continue;
      any = true;
      found = found || contains_feature(sentences[k], words);
    }
    listing += any ? 1 : 0;
    used += found ? 1 : 0;
  }
  return listing == 0 ? -1.0 : static_cast<double>(used) / static_cast<double>(listing);
}

}  // namespace

ExplanationEvalResult evaluate_explanations(const std::vector<UserItem>& pairs,
                                            const ExplainFn& explain,
                                            const ExplanationReferences& references,
                                            const ExplanationEvalOptions& options) {
  HYBREC_CHECK(options.max_pairs >= 0, "evaluate_explanations: max_pairs ", options.max_pairs,
               " is negative");
  HYBREC_CHECK(options.personalisation_items >= 0, "evaluate_explanations: personalisation_items ",
               options.personalisation_items, " is negative");
  HYBREC_CHECK(options.personalisation_items == 0 || options.users_per_item >= 2,
               "evaluate_explanations: users_per_item ", options.users_per_item,
               " is below 2, so no item could be compared across users");
  HYBREC_CHECK(static_cast<bool>(explain), "evaluate_explanations: no explain function");

  ExplanationEvalResult result;
  result.reference_kind = reference_kind_name(references.kind);
  result.feature_set_size = static_cast<int64_t>(references.feature_set.size());
  const std::vector<UserItem> offered = distinct_pairs(pairs);
  result.pairs_offered = static_cast<int64_t>(offered.size());
  std::vector<UserItem> with_reference;
  for (const UserItem& p : offered) {
    if (references.find(p.user, p.item) != nullptr) with_reference.push_back(p);
  }
  result.pairs_with_reference = static_cast<int64_t>(with_reference.size());
  const std::vector<UserItem> scored =
      scored_pairs(with_reference, options.max_pairs, options.seed);
  result.pairs_scored = static_cast<int64_t>(scored.size());
  const auto groups =
      options.personalisation_items == 0
          ? std::vector<std::vector<UserItem>>{}
          : personalisation_groups(
                options.personalisation_pairs.empty() ? offered : options.personalisation_pairs,
                options);

  Explanations explanations(explain, options);
  for (const UserItem& p : scored) explanations.plan(p);
  for (const auto& group : groups) {
    for (const UserItem& p : group) explanations.plan(p);
  }
  explanations.run();
  result.explanations = explanations.count();

  std::vector<Tokens> refs, hyps, given;
  std::vector<const Explanation*> scored_explanations;
  std::vector<std::set<Tokens>> detected;
  for (const UserItem& p : scored) {
    const ExplanationReference& ref = *references.find(p.user, p.item);
    const Explanation& e = explanations.of(p);
    refs.push_back(tokenize_words(ref.text));
    hyps.push_back(tokenize_words(e.sentence));
    given.push_back(ref.feature);
    result.pairs_with_feature += ref.feature.empty() ? 0 : 1;
    scored_explanations.push_back(&e);
    detected.push_back(detect_features(hyps.back(), references.feature_set));
  }
  if (!scored.empty()) {
    result.bleu1 = corpus_bleu(refs, hyps, 1);
    result.bleu4 = corpus_bleu(refs, hyps, 4);
    result.rouge = mean_rouge(refs, hyps);
  }
  result.fmr = feature_matching_ratio(hyps, given);
  result.fcr = scored.empty() ? -1 : feature_coverage_ratio(detected, references.feature_set);
  result.div = feature_diversity(detected);
  result.distinct1 = distinct_ngrams(hyps, 1);
  result.distinct2 = distinct_ngrams(hyps, 2);
  result.usr = unique_sentence_ratio(hyps);
  result.aspects_in_sentence = aspects_in_sentence(hyps, scored_explanations);

  std::vector<std::vector<Tokens>> per_item;
  for (const auto& group : groups) {
    per_item.emplace_back();
    for (const UserItem& p : group) {
      per_item.back().push_back(tokenize_words(explanations.of(p).sentence));
    }
  }
  result.personalisation = personalisation(per_item);
  return result;
}

nlohmann::json explanation_event(const ExplanationEvalResult& r) {
  return nlohmann::json{{"event", "eval_explanations"},
                        {"references", r.reference_kind},
                        {"pairs_offered", r.pairs_offered},
                        {"pairs_with_reference", r.pairs_with_reference},
                        {"pairs_scored", r.pairs_scored},
                        {"pairs_with_feature", r.pairs_with_feature},
                        {"feature_set", r.feature_set_size},
                        {"explanations", r.explanations},
                        {"bleu1", r.bleu1},
                        {"bleu4", r.bleu4},
                        {"rouge1", r.rouge.rouge1},
                        {"rouge2", r.rouge.rouge2},
                        {"rougeL", r.rouge.rouge_l},
                        {"fmr", r.fmr},
                        {"fcr", r.fcr},
                        {"div", r.div},
                        {"distinct1", r.distinct1},
                        {"distinct2", r.distinct2},
                        {"usr", r.usr},
                        {"aspects_in_sentence", r.aspects_in_sentence},
                        {"personalised_items", r.personalisation.items},
                        {"personalised_differing", r.personalisation.items_differing},
                        {"personalised_ratio", r.personalisation.ratio},
                        {"personalised_distinct_share", r.personalisation.mean_distinct_share}};
}

std::string format_explanation_result(const ExplanationEvalResult& r) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(4);
  out << "explanations against " << r.reference_kind << ": " << r.pairs_scored << " pairs scored ("
      << r.pairs_with_reference << " of " << r.pairs_offered << " offered have a reference, "
      << r.pairs_with_feature << " a feature; " << r.feature_set_size << " features in all), "
      << r.explanations << " explanations\n"
      << "  BLEU-1 " << r.bleu1 << "  BLEU-4 " << r.bleu4 << "  ROUGE-1 " << r.rouge.rouge1
      << "  ROUGE-2 " << r.rouge.rouge2 << "  ROUGE-L " << r.rouge.rouge_l << "\n"
      << "  FMR " << r.fmr << "  FCR " << r.fcr << "  DIV " << r.div << "  USR " << r.usr
      << "  distinct-1 " << r.distinct1 << "  distinct-2 " << r.distinct2 << "\n"
      << "  aspects in sentence " << r.aspects_in_sentence
      << "  personalised: " << r.personalisation.items_differing << " of "
      << r.personalisation.items << " items differ across users (ratio " << r.personalisation.ratio
      << ", distinct share " << r.personalisation.mean_distinct_share << ")\n";
  return out.str();
}

}  // namespace hybrec::trainer
