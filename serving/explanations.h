// Explanations of served recommendations (RecommendRequest::explain): for
// each explaining request, its first explain_k results get one sentence
// each from the language model (trainer/explain), drawing on the history
// the request was scored with (the user's items as serving knows them, then
// the session's recent items; the last history_len encoded) and the
// attention the snapshot's model paid to it.
//
// Each explanation is one prefill and a decode of up to max_tokens on the
// caller's thread, one after another, with `threads` OpenMP threads (a
// session per call: the model file and tokenizer are shared read-only, so
// concurrent requests explain in parallel).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "serving/histories.h"
#include "serving/model_snapshot.h"
#include "serving/recommender.h"
#include "trainer/explain/explanation.h"
#include "trainer/llm/text_generator.h"

namespace hybrec::serving {

class Explanations {
 public:
  // text_of(item id): the item's text. histories must outlive this.
  Explanations(std::shared_ptr<const llm::TextGenerator> generator, const Histories& histories,
               std::function<std::string(int64_t)> text_of, explain::ExplainOptions options);

  // Fills explained, explanation and aspects of the first request.explain_k
  // items of reply (no-op without request.explain), using snapshot s.
  void explain(const ModelSnapshot& s, const RecommendRequest& request,
               RecommendReply* reply) const;

 private:
  std::shared_ptr<const llm::TextGenerator> generator_;
  const Histories& histories_;
  std::function<std::string(int64_t)> text_of_;
  explain::ExplainOptions options_;
};

}  // namespace hybrec::serving
