#include "trainer/explain/explainer.h"

#include <algorithm>
#include <unordered_map>

#include "hybrec/kernels/error.h"
#include "trainer/model/id_tables.h"

namespace hybrec::explain {

Explainer::Explainer(const trainer::TrainedRun& run, const llm::TextGenerator& generator)
    : run_(run), generator_(generator) {
  if (run.model.config().use_id) {
    rows_ = std::make_unique<trainer::SnapshotRows>(run.state.ps_dir, run.state.ps_run,
                                                    run.state.ps_version);
    fetch_ = rows_->fetcher();
  }
}

void Explainer::check_ids(int64_t user, int64_t item) const {
  const trainer::Dataset& data = run_.data;
  HYBREC_CHECK(user >= 0 && user < data.num_users, "user ", user, " is not a user of ",
               run_.config.data_path, " (", data.num_users, " users: ids [0, ", data.num_users,
               "))");
  HYBREC_CHECK(item >= 0 && item < data.num_items, "item ", item, " is not an item of ",
               run_.config.data_path, " (", data.num_items, " items: ids [0, ", data.num_items,
               "))");
}

Explanation Explainer::explain(int64_t user, int64_t item, const ExplainOptions& options) const {
  check_ids(user, item);
  const trainer::Dataset& data = run_.data;
  return explain_events(data.user_offsets[user], data.user_offsets[user + 1], data.item_text[item],
                        options);
}

int64_t Explainer::held_out_end(int64_t user, int64_t item) const {
  const trainer::Dataset& data = run_.data;
  const int64_t begin = data.user_offsets[user], end = data.user_offsets[user + 1];
  for (int64_t e = begin; e < end; ++e) {
    if (data.item[e] == item) return e;
  }
  return end;
}

Explanation Explainer::explain_held_out(int64_t user, int64_t item, std::string item_text,
                                        const ExplainOptions& options) const {
  check_ids(user, item);
  return explain_events(run_.data.user_offsets[user], held_out_end(user, item),
                        std::move(item_text), options);
}

std::vector<int64_t> Explainer::held_out_history(int64_t user, int64_t item) const {
  check_ids(user, item);
  const trainer::Dataset& data = run_.data;
  const int64_t end = held_out_end(user, item);
  const int64_t begin = std::max(data.user_offsets[user], end - run_.model.config().history_len);
  return {data.item.begin() + begin, data.item.begin() + end};
}

Explanation Explainer::explain_events(int64_t first_event, int64_t end, std::string item_text,
                                      const ExplainOptions& options) const {
  const trainer::Dataset& data = run_.data;
  const trainer::HybridModel& model = run_.model;
  const int64_t d = model.config().dim, len = model.config().history_len;
  const int64_t begin = std::max(first_event, end - len);

  // The encoded history's distinct items get local rows 0..m-1, so only
  // their id rows are read and their vectors computed.
  std::vector<int64_t> ids, history;
  std::unordered_map<int64_t, int64_t> local;
  for (int64_t e = begin; e < end; ++e) {
    const int64_t id = data.item[e];
    const auto [it, added] = local.emplace(id, static_cast<int64_t>(ids.size()));
    if (added) ids.push_back(id);
    history.push_back(it->second);
  }
  const auto m = static_cast<int64_t>(ids.size());
  std::vector<float> rows, vecs(static_cast<std::size_t>(std::max<int64_t>(m, 1) * d));
  std::vector<uint8_t> unseen;
  if (fetch_ && m > 0) {
    rows.resize(static_cast<std::size_t>(m * d));
    fetch_(trainer::kItemTable, ids.data(), m, rows.data());
    unseen = trainer::untrained_rows(rows.data(), m, d);
  }
  model.item_vectors(run_.state.params.data(), m, ids.data(), rows.empty() ? nullptr : rows.data(),
                     data.item_text_emb.empty() ? nullptr : data.item_text_emb.data(),
                     unseen.empty() ? nullptr : unseen.data(), vecs.data());
  const ExplainSubject subject = explain_subject(
      model, run_.state.params.data(), history, vecs.data(),
      [&](int64_t row) { return data.item_text[ids[row]]; }, std::move(item_text));
  return explain::explain(subject, generator_, options);
}

}  // namespace hybrec::explain
