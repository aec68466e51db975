// The aspect words of a recommendation: what the recommended item's text
// shares with the texts of the history items the model attended to.
//
// Words of a text (text_words): the text made valid UTF-8 (invalid bytes
// become U+FFFD), cut into maximal runs of letters (Unicode \p{L}) joined
// by single hyphens ("sci-fi"); digits, other punctuation, symbols and
// spaces separate words, so "c6578dn" gives "c" and "dn" and "don't" gives
// "don" and "t". Each word is lowercased code point by code point (Python's
// str.lower()) and kept when it has at least 3 letters and is not an English
// stopword (is_stopword: articles, pronouns, auxiliaries, prepositions and
// the like). Each word once, in order of first appearance.
//
// Aspects (aspect_words): each word of the item's text that occurs in at
// least one history text scores the sum of the weights of the history
// entries whose text holds it (an entry counts once however often the word
// appears in it; an item twice in the history counts twice). The k best
// scores are the aspects, ties in order of first appearance in the item
// text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hybrec::explain {

struct Aspect {
  std::string word;
  double score = 0;  // summed weight of the history entries holding it
};

std::vector<std::string> text_words(std::string_view text);

// history_texts and weights are the same length (one entry per history
// slot); throws otherwise, or on k < 0.
std::vector<Aspect> aspect_words(std::string_view item_text,
                                 const std::vector<std::string>& history_texts,
                                 const std::vector<float>& weights, int64_t k);

// Whether `word` is in the stopword list (lowercase).
bool is_stopword(std::string_view word);

}  // namespace hybrec::explain
