// The explanation prompt: a ChatML conversation (a system message and one
// user message) asking the language model for one sentence on why a user
// may like an item, from the titles of the user's recent items, the item's
// title and text, and the aspect words they share (aspects.h).
//
// All text going into the prompt is made valid UTF-8 first (each invalid
// byte sequence becomes U+FFFD) and stripped of control characters, so a
// damaged title cannot break the prompt or the tokenizer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "trainer/text/bpe_tokenizer.h"

namespace hybrec::explain {

struct PromptInput {
  bool no_history = false;                 // the user has no history at all
  std::vector<std::string> recent_titles;  // most recent first
  std::string item_title;
  std::string item_text;
  std::vector<std::string> aspects;  // best first; may be empty
};

// The title within an item's text, as the importers write texts: the part
// before the first " | " (MovieLens and CSV texts: "Heat (1995) | Action|Crime
// | ..."), else before the first ": " (the synthetic "Name: words ..."),
// else the whole text; valid UTF-8, spaces trimmed, at most max_chars code
// points (cut at a word boundary when there is one, "..." marking the cut).
std::string item_title(std::string_view text, std::size_t max_chars = 80);

// The rest of the text after the title and its separator ("Action|Crime |
// ..."), cleaned and cut as clean_text does; "" when the text is all title.
std::string item_details(std::string_view text, std::size_t max_chars);

// Valid UTF-8 (invalid sequences become U+FFFD), control characters and
// runs of whitespace made single spaces, trimmed, and at most max_chars code
// points ("..." marking a cut, at a word boundary when there is one).
std::string clean_text(std::string_view text, std::size_t max_chars);

// The system and user messages for BpeTokenizer::chat_prompt. The user
// message lists the titles ("- " each), the item's title and the rest of
// its text (item_details; titles cut to 60 code points and the rest to 200,
// to keep the prompt and its prefill short), the aspects ("none" when there are none) and asks for
// one sentence; with no_history it says the user has no history yet (and when the history's items
// have no titles, that).
std::vector<text::ChatMessage> explanation_messages(const PromptInput& input);

// How the model's answer starts, for it to continue (GenerateOptions::
// response_prefix): "You may like <title> because". Started so, SmolLM2-135M
// writes a reason instead of repeating the item's details back.
std::string response_start(const PromptInput& input);

// The first sentence of generated text: up to and including the first '.',
// '!' or '?' that ends the text or is followed by whitespace, and within the
// first line after any leading whitespace; spaces trimmed. The whole first
// line when no sentence ends.
std::string first_sentence(std::string_view text);

}  // namespace hybrec::explain
