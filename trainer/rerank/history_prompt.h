// The text the decoder reads for the generated-text score term: a plain
// (not ChatML) prompt listing the titles of a user's recent items, newest
// first, that ends where another title would begin, and each candidate's
// title as the continuation to score:
//
//   Titles this person liked, most recent first:
//   - Heat
//   - Toy Story
//   Another title this person will like:
//   -                                  <- the prompt ends after "-"
//    Jumanji\n                         <- a candidate: " " + title + "\n"
//
// Plain, because the term is the likelihood of a title as the next entry of
// a list, which is what the decoder predicts from a list; in ChatML the
// assistant's turn usually opens with a preamble, so a title as its first
// tokens would score mostly the format, and the template's default system
// message would add ~20 tokens to every prefill. The closing newline is part
// of the continuation so that a title must also end where it ends ("Toy
// Story" is not "Toy Story 2").
#pragma once

#include <string>
#include <vector>

namespace hybrec::trainer {

// An item's title: its text up to the first " | " (MovieLens texts are
// "Title (Year) | genres | tags"; the whole text when there is no
// separator), without surrounding whitespace, line breaks or a trailing
// " (YYYY)": four digits tell the decoder little about a title and, one
// token each, would double the tokens of a short one (and the cost of the
// term) while diluting its per-token mean. Bytes are kept as they are (the
// tokenizer replaces invalid UTF-8 with U+FFFD).
std::string item_title(const std::string& item_text);

// The prompt above for `titles`, newest first (may be empty).
std::string history_prompt(const std::vector<std::string>& titles);

// A candidate's continuation: " " + title + "\n".
std::string title_continuation(const std::string& title);

}  // namespace hybrec::trainer
