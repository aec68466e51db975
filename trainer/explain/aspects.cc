#include "trainer/explain/aspects.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "hybrec/kernels/error.h"
#include "trainer/explain/utf8.h"
#include "trainer/text/bpe_tokenizer.h"
#include "trainer/text/unicode_tables.h"

namespace hybrec::explain {

namespace {

namespace uc = hybrec::text::unicode;

// English function words of 3+ letters after NLTK's list (with the stems
// that contractions leave, "doesn" of "doesn't"), and a few words that say
// nothing about an item ("one", "new", "etc").
const std::unordered_set<std::string>& stopwords() {
  static const std::unordered_set<std::string> words = {
      "about",   "above",   "after", "again",   "against",   "all",        "also",    "and",
      "any",     "are",     "aren",  "because", "been",      "before",     "being",   "below",
      "between", "both",    "but",   "can",     "couldn",    "did",        "didn",    "does",
      "doesn",   "doing",   "don",   "down",    "during",    "each",       "few",     "for",
      "from",    "further", "had",   "hadn",    "has",       "hasn",       "have",    "haven",
      "having",  "her",     "here",  "hers",    "herself",   "him",        "himself", "his",
      "how",     "into",    "isn",   "its",     "itself",    "just",       "more",    "most",
      "mustn",   "myself",  "needn", "nor",     "not",       "now",        "off",     "once",
      "only",    "other",   "our",   "ours",    "ourselves", "out",        "over",    "own",
      "same",    "shan",    "she",   "should",  "shouldn",   "some",       "such",    "than",
      "that",    "the",     "their", "theirs",  "them",      "themselves", "then",    "there",
      "these",   "they",    "this",  "those",   "through",   "too",        "under",   "until",
      "very",    "was",     "wasn",  "were",    "weren",     "what",       "when",    "where",
      "which",   "while",   "who",   "whom",    "why",       "will",       "with",    "won",
      "wouldn",  "you",     "your",  "yours",   "yourself",  "yourselves", "one",     "new",
      "may",     "might",   "must",  "would",   "could",     "shall",      "via",     "per",
      "yet",     "etc"};
  return words;
}

bool is_letter(char32_t c) { return (uc::letter_number(c) & uc::kLetter) != 0; }

}  // namespace

bool is_stopword(std::string_view word) { return stopwords().count(std::string(word)) > 0; }

std::vector<std::string> text_words(std::string_view text) {
  const std::u32string cps = decode_valid_utf8(text::valid_utf8(text));
  std::vector<std::string> words;
  std::unordered_set<std::string> seen;
  std::string word;
  std::size_t length = 0;  // letters (lowercased code points) of `word`
  const auto finish = [&] {
    if (length >= 3 && !is_stopword(word) && seen.insert(word).second) words.push_back(word);
    word.clear();
    length = 0;
  };
  for (std::size_t k = 0; k < cps.size(); ++k) {
    const char32_t c = cps[k];
    if (c == U'-' && length > 0 && k + 1 < cps.size() && is_letter(cps[k + 1])) {
      word += '-';  // "sci-fi" is one word
      continue;
    }
    if (!is_letter(c)) {
      finish();
      continue;
    }
    char32_t lower[uc::kMaxLowerLength];
    const std::size_t n = uc::to_lower(c, lower);
    for (std::size_t i = 0; i < n; ++i) append_utf8(lower[i], word);
    length += n;
  }
  finish();
  return words;
}

std::vector<Aspect> aspect_words(std::string_view item_text,
                                 const std::vector<std::string>& history_texts,
                                 const std::vector<float>& weights, int64_t k) {
  HYBREC_CHECK(history_texts.size() == weights.size(), "aspect_words: ", history_texts.size(),
               " history texts but ", weights.size(), " weights");
  HYBREC_CHECK(k >= 0, "aspect_words: k = ", k, " must not be negative");
  const std::vector<std::string> item_words = text_words(item_text);
  std::unordered_map<std::string, std::size_t> index;  // word -> position in item_words
  for (std::size_t i = 0; i < item_words.size(); ++i) index.emplace(item_words[i], i);
  std::vector<double> score(item_words.size(), 0.0);
  std::vector<bool> shared(item_words.size(), false);
  for (std::size_t h = 0; h < history_texts.size(); ++h) {
    for (const std::string& w : text_words(history_texts[h])) {
      const auto it = index.find(w);
      if (it == index.end()) continue;
      score[it->second] += weights[h];
      shared[it->second] = true;
    }
  }
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < item_words.size(); ++i) {
    if (shared[i]) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return score[a] > score[b]; });
  order.resize(std::min(order.size(), static_cast<std::size_t>(k)));
  std::vector<Aspect> out;
  for (const std::size_t i : order) out.push_back({item_words[i], score[i]});
  return out;
}

}  // namespace hybrec::explain
