// Explanations of a trained run's recommendations (`hybrec explain`): the
// user's history as serving knows it at start (every event of the dataset,
// all splits, in time order), the last history_len of it encoded by the
// run's model with the checkpoint's dense parameters and the id rows of its
// parameter-server snapshot, and the explanation of explanation.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trainer/eval/snapshot_rows.h"
#include "trainer/explain/explanation.h"
#include "trainer/llm/text_generator.h"
#include "trainer/pipelines/trained_run.h"

namespace hybrec::explain {

class Explainer {
 public:
  // run and generator must outlive the explainer. Opens the run's
  // parameter-server snapshot when the model has id embeddings.
  Explainer(const trainer::TrainedRun& run, const llm::TextGenerator& generator);

  // Throws hybrec::Error naming the id when the user or the item is not one
  // of the dataset's ("user 900 is not a user of data.h5 (300 users: ids [0,
  // 300))"). A user without events is explained without history.
  Explanation explain(int64_t user, int64_t item, const ExplainOptions& options) const;

  // For scoring explanations against the user's held-out text (`hybrec eval
  // --explanations`): the history stops before the user's first event with
  // the item (all of it when the pair is no event), so the prompt cannot
  // show the item as already seen, and the item's text is `item_text` (e.g.
  // without the user's own tags, which are the reference).
  Explanation explain_held_out(int64_t user, int64_t item, std::string item_text,
                               const ExplainOptions& options) const;

  // The item ids explain_held_out encodes for (user, item), oldest first.
  std::vector<int64_t> held_out_history(int64_t user, int64_t item) const;

 private:
  void check_ids(int64_t user, int64_t item) const;
  // Explains item_text with the user's events [begin, end) as the history
  // (the last history_len of them).
  Explanation explain_events(int64_t begin, int64_t end, std::string item_text,
                             const ExplainOptions& options) const;
  // The end of the user's history before their first event with the item.
  int64_t held_out_end(int64_t user, int64_t item) const;

  const trainer::TrainedRun& run_;
  const llm::TextGenerator& generator_;
  std::unique_ptr<trainer::SnapshotRows> rows_;
  trainer::RowFetcher fetch_;
};

}  // namespace hybrec::explain
