// One personalised explanation: a recommended item, the history the model
// encoded for the user and the attention it paid to each entry, turned into
// aspect words (aspects.h), a prompt (prompt.h) and one generated sentence.
// Shared by `hybrec explain` (explainer.h, on a trained run) and serving
// (on its live snapshot and histories).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "trainer/llm/text_generator.h"
#include "trainer/model/hybrid_model.h"

namespace hybrec::explain {

struct ExplainOptions {
  int64_t aspects = 3;        // K: aspect words at most
  int64_t recent_titles = 5;  // N: history titles in the prompt at most
  // Greedy, 40 tokens at most, ending at the first newline after some text.
  llm::GenerateOptions generation = [] {
    llm::GenerateOptions g;
    g.max_tokens = 40;
    g.stop_at_newline = true;
    return g;
  }();
};

// What explain() needs: the encoded history's texts (oldest first) and the
// model's weight on each (HybridModel::history_weights), and the item's text.
struct ExplainSubject {
  std::vector<std::string> history_texts;
  std::vector<float> weights;
  std::string item_text;
};

struct Explanation {
  std::string sentence;              // the first sentence generated, trimmed
  std::vector<std::string> aspects;  // the aspect words the prompt gave, best first
  std::string generated;             // the response's start and all that followed it
  bool no_history = false;           // the user had no history: no titles, no aspects
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  bool truncated = false;  // the prompt was cut to the generator's budget
  double prefill_s = 0, decode_s = 0;
};

// The subject for a user whose items are `history` (oldest first, any
// length: the last history_len of them are what the model encodes, and what
// the explanation draws on). history entries index item_vecs (rows [*, dim]
// on the model's device, as for HybridModel::user_states) and text_of.
ExplainSubject explain_subject(const trainer::HybridModel& model, const float* params,
                               const std::vector<int64_t>& history, const float* item_vecs,
                               const std::function<std::string(int64_t)>& text_of,
                               std::string item_text);

// Aspects, prompt and one generation, started with response_start; the
// sentence is the first of the whole response. The recent titles are the
// history's, most recent first, each title once.
Explanation explain(const ExplainSubject& subject, const llm::TextGenerator& generator,
                    const ExplainOptions& options);

}  // namespace hybrec::explain
