// The training step's scratch, owned by HybridModel and reused across steps
// (vectors only grow), so a step allocates nothing once the largest batch
// has been seen.
#pragma once

#include <mutex>
#include <vector>

#include "trainer/model/history_encoder.h"
#include "trainer/model/scoring.h"

namespace hybrec::trainer {

struct ModelWorkspace {
  std::mutex mutex;              // one forward_backward / forward_loss at a time
  std::vector<float> keep;       // [I] ID dropout mask
  std::vector<float> text_rows;  // [I, T] text vectors of the unique items
  std::vector<float> text_inv;   // [I] their inverse norms
  std::vector<float> item_vecs;  // [I, d] v_j
  std::vector<float> users;      // [B, d] u'
  std::vector<float> queries;    // [B, T] q_u
  std::vector<float> cos;        // [B, C] cos(q_u, t_cand)
  std::vector<float> dusers;     // [B, d]
  std::vector<float> ditems;     // [I, d]
  HistoryWorkspace history;
  ScoringWorkspace scoring;
};

}  // namespace hybrec::trainer
