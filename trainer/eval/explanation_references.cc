#include "trainer/eval/explanation_references.h"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

namespace {

// Function words, and words that measure or count a product rather than
// say what it is; neither makes a feature.
const std::set<std::string>& non_features() {
  static const std::set<std::string> words = {
      "and",   "are",    "but",  "can",  "for",   "from",   "has",  "her",  "his",
      "its",   "not",    "one",  "our",  "out",   "per",    "the",  "this", "that",
      "use",   "with",   "you",  "your", "count", "feet",   "foot", "inch", "inches",
      "ounce", "ounces", "pack", "pcs",  "piece", "pieces", "set",  "size", "yards"};
  return words;
}

bool ascii_letters(const std::string& token) {
  for (const char c : token) {
    if (c < 'a' || c > 'z') return false;
  }
  return true;
}

}  // namespace

const char* reference_kind_name(ReferenceKind kind) {
  return kind == ReferenceKind::kPairText ? "pair_text" : "item_text";
}

const ExplanationReference* ExplanationReferences::find(int64_t user, int64_t item) const {
  if (kind == ReferenceKind::kPairText) {
    const auto it = by_pair.find({user, item});
    return it == by_pair.end() ? nullptr : &it->second;
  }
  if (item < 0 || item >= static_cast<int64_t>(by_item.size())) return nullptr;
  const ExplanationReference& ref = by_item[static_cast<size_t>(item)];
  return ref.text.empty() ? nullptr : &ref;
}

ExplanationReferences pair_text_references(const Dataset& d) {
  HYBREC_CHECK(!d.pair_text.empty(), "dataset '", d.name,
               "' has no /pair_text (text users wrote about items); a MovieLens dataset with "
               "tags.csv gets it when imported by this version of hybrec data import");
  ExplanationReferences refs;
  refs.kind = ReferenceKind::kPairText;
  for (size_t r = 0; r < d.pair_text.size(); ++r) {
    if (tokenize_words(d.pair_text[r]).empty()) continue;
    ExplanationReference& ref = refs.by_pair[{d.pair_text_user[r], d.pair_text_item[r]}];
    if (ref.text.empty()) ref.feature = tokenize_words(d.pair_text[r]);
    ref.text += (ref.text.empty() ? "" : ", ") + d.pair_text[r];
  }
  for (const auto& [pair, ref] : refs.by_pair) refs.feature_set.insert(ref.feature);
  return refs;
}

Tokens item_feature_word(const Tokens& text,
                         const std::map<std::string, int64_t>& document_frequency) {
  std::map<std::string, int64_t> count;
  for (size_t i = 1; i + 1 < text.size(); ++i) {
    const std::string& word = text[i];
    if (word.size() >= 3 && ascii_letters(word) && non_features().count(word) == 0 &&
        word != text.front() && word != text.back()) {
      ++count[word];
    }
  }
  const std::string* best = nullptr;
  int64_t best_count = 0, best_df = 0;
  for (size_t i = 1; i + 1 < text.size(); ++i) {
    const auto it = count.find(text[i]);
    if (it == count.end()) continue;
    const auto df_it = document_frequency.find(text[i]);
    const int64_t df = df_it == document_frequency.end() ? 0 : df_it->second;
    // Strictly better only, so the earlier of equals stays.
    if (best == nullptr || it->second > best_count || (it->second == best_count && df > best_df)) {
      best = &text[i];
      best_count = it->second;
      best_df = df;
    }
  }
  return best == nullptr ? Tokens{} : Tokens{*best};
}

ExplanationReferences item_text_references(const Dataset& d) {
  ExplanationReferences refs;
  refs.kind = ReferenceKind::kItemText;
  std::vector<Tokens> tokens(d.item_text.size());
  std::map<std::string, int64_t> document_frequency;
  for (size_t i = 0; i < d.item_text.size(); ++i) {
    tokens[i] = tokenize_words(d.item_text[i]);
    for (const std::string& word : std::set<std::string>(tokens[i].begin(), tokens[i].end())) {
      ++document_frequency[word];
    }
  }
  refs.by_item.resize(d.item_text.size());
  for (size_t i = 0; i < d.item_text.size(); ++i) {
    if (tokens[i].empty()) continue;
    refs.by_item[i].text = d.item_text[i];
    refs.by_item[i].feature = item_feature_word(tokens[i], document_frequency);
    if (!refs.by_item[i].feature.empty()) refs.feature_set.insert(refs.by_item[i].feature);
  }
  return refs;
}

ExplanationReferences explanation_references(const Dataset& d) {
  return d.pair_text.empty() ? item_text_references(d) : pair_text_references(d);
}

std::vector<UserItem> split_pairs(const Dataset& d, Split split) {
  std::vector<UserItem> pairs;
  for (size_t r = 0; r < d.split.size(); ++r) {
    if (d.split[r] == split) pairs.push_back(UserItem{d.user[r], d.item[r]});
  }
  return pairs;
}

std::vector<UserItem> reference_pairs(const ExplanationReferences& references) {
  std::vector<UserItem> pairs;
  for (const auto& [pair, ref] : references.by_pair)
    pairs.push_back(UserItem{pair.first, pair.second});
  return pairs;
}

}  // namespace hybrec::trainer
