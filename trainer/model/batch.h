// One training batch as the model sees it: example positions point into
// deduplicated row buffers, so each user and item row is pulled from the
// parameter server once per batch and its gradient pushed once.
#pragma once

#include <cstdint>
#include <vector>

namespace hybrec::trainer {

struct Batch {
  int64_t size = 0;         // B examples
  int64_t candidates = 0;   // C: column 0 is the target (label 1), 1..C-1 negatives (label 0)
  int64_t history_len = 0;  // L (== ModelConfig::history_len)

  // Distinct keys of this batch, in the order of the row buffers passed to
  // the model: user_rows[i] is the row of user_ids[i], item_rows[i] of item_ids[i].
  std::vector<int64_t> user_ids;
  std::vector<int64_t> item_ids;

  std::vector<int32_t> user_slot;  // [B]     index into user_ids
  std::vector<int32_t> cand_slot;  // [B, C]  index into item_ids
  // [B, L] index into item_ids, chronological, the most recent last;
  // left-padded with -1 when the user has fewer than L earlier events.
  std::vector<int32_t> hist_slot;
  // [B, C] log of each candidate's sampling probability for the logQ
  // correction of the sampled softmax (0 for the target); empty = none.
  std::vector<float> log_q;
};

}  // namespace hybrec::trainer
