#include "trainer/explain/explanation.h"

#include <algorithm>
#include <unordered_set>

#include "hybrec/kernels/error.h"
#include "trainer/explain/aspects.h"
#include "trainer/explain/prompt.h"

namespace hybrec::explain {

ExplainSubject explain_subject(const trainer::HybridModel& model, const float* params,
                               const std::vector<int64_t>& history, const float* item_vecs,
                               const std::function<std::string(int64_t)>& text_of,
                               std::string item_text) {
  const int64_t len = model.config().history_len;
  const int64_t take = std::min<int64_t>(len, static_cast<int64_t>(history.size()));
  // Left-padded, as the model encodes it.
  std::vector<int64_t> slots(static_cast<std::size_t>(len), -1);
  std::copy(history.end() - take, history.end(), slots.end() - take);
  std::vector<float> weights(slots.size());
  model.history_weights(params, 1, slots.data(), item_vecs, weights.data());
  ExplainSubject s;
  s.item_text = std::move(item_text);
  for (int64_t l = len - take; l < len; ++l) {
    s.history_texts.push_back(text_of(slots[l]));
    s.weights.push_back(weights[l]);
  }
  return s;
}

Explanation explain(const ExplainSubject& subject, const llm::TextGenerator& generator,
                    const ExplainOptions& options) {
  HYBREC_CHECK(options.recent_titles >= 0, "explain: recent_titles = ", options.recent_titles,
               " must not be negative");
  Explanation e;
  e.no_history = subject.history_texts.empty();
  PromptInput in;
  in.no_history = e.no_history;
  std::unordered_set<std::string> listed;
  for (auto it = subject.history_texts.rbegin();
       it != subject.history_texts.rend() &&
       static_cast<int64_t>(in.recent_titles.size()) < options.recent_titles;
       ++it) {
    std::string title = item_title(*it);
    if (!title.empty() && listed.insert(title).second) in.recent_titles.push_back(title);
  }
  in.item_title = item_title(subject.item_text);
  in.item_text = subject.item_text;
  for (const Aspect& a :
       aspect_words(subject.item_text, subject.history_texts, subject.weights, options.aspects)) {
    in.aspects.push_back(a.word);
  }
  e.aspects = in.aspects;
  llm::GenerateOptions generation = options.generation;
  generation.response_prefix = response_start(in);
  const llm::GenerateResult r = generator.generate_chat(explanation_messages(in), generation);
  e.generated = generation.response_prefix + r.text;
  e.sentence = first_sentence(e.generated);
  e.prompt_tokens = r.prompt_tokens;
  e.generated_tokens = r.generated_tokens;
  e.truncated = r.truncated;
  e.prefill_s = r.prefill_s;
  e.decode_s = r.decode_s;
  return e;
}

}  // namespace hybrec::explain
