#include "serving/explanations.h"

#include <algorithm>

#include "hybrec/kernels/error.h"

namespace hybrec::serving {

Explanations::Explanations(std::shared_ptr<const llm::TextGenerator> generator,
                           const Histories& histories, std::function<std::string(int64_t)> text_of,
                           explain::ExplainOptions options)
    : generator_(std::move(generator)),
      histories_(histories),
      text_of_(std::move(text_of)),
      options_(std::move(options)) {
  HYBREC_CHECK(generator_ != nullptr, "Explanations: no language model");
}

void Explanations::explain(const ModelSnapshot& s, const RecommendRequest& request,
                           RecommendReply* reply) const {
  if (!request.explain) return;
  // The history in catalogue slots, as request_vectors builds it.
  std::vector<int64_t> history;
  if (request.user >= 0 && histories_.known(request.user)) {
    for (const int64_t id : histories_.items(request.user)) {
      const int64_t slot = s.slot_of(id);
      if (slot >= 0) history.push_back(slot);
    }
  }
  for (const int64_t id : request.recent_items) history.push_back(s.slot_of(id));
  const auto text_of_slot = [&](int64_t slot) { return text_of_(s.item_ids[slot]); };
  // The weights depend on the history alone: one encoder pass for all items.
  explain::ExplainSubject subject = explain::explain_subject(*s.model, s.params.data(), history,
                                                             s.item_vecs.data(), text_of_slot, "");
  const std::size_t n = std::min(reply->items.size(), static_cast<std::size_t>(request.explain_k));
  for (std::size_t i = 0; i < n; ++i) {
    ScoredItem& item = reply->items[i];
    subject.item_text = text_of_(item.item);
    const explain::Explanation e = explain::explain(subject, *generator_, options_);
    item.explained = true;
    item.explanation = e.sentence;
    item.aspects = e.aspects;
  }
}

}  // namespace hybrec::serving
