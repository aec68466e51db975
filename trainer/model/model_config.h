// What the hybrid model is made of: every switch of DESIGN.md's "The model".
// The trainer fills it from the [model] table of the TOML config.
#pragma once

#include <cstdint>
#include <string>

namespace hybrec::trainer {

enum class Loss { kSampledSoftmax, kBce };
enum class HistoryPooling { kMean, kLast };
// What an item without a trained id row (no training event: a new or cold
// item) contributes as its e_j, in training, evaluation and serving alike:
//   kNoise    the parameter server's initial random row (item rows start
//             at U(-s, s), s = train.sparse_init_scale);
//   kZero     nothing: item rows start at zero, so an untrained item has
//             v_j = A t_j, as an item that ID dropout drops;
//   kLearned  item rows start at zero, and an item whose row is still zero
//             takes a learned "new item" vector e_new (a dense parameter)
//             instead; in training e_new stands in for every dropped
//             item's e_j, so it learns what an item known only by its text
//             is worth.
enum class UnseenItems { kNoise, kZero, kLearned };

struct ModelConfig {
  int64_t dim = 32;            // d: id embedding and item vector width
  int64_t text_dim = 0;        // T: set from the dataset's /items/text_emb
  bool use_id = true;          // e_u, e_j from the parameter server
  bool use_text = true;        // v_j += A t_j (adapter A is d x T)
  bool use_history = true;     // attention encoder over the last history_len items
  bool use_text_score = true;  // the fused text score g = cos(q_u, t_j) ("lambda" switch)
  float lambda_init = 1.0f;    // initial lambda of the fused score (learned)
  int64_t history_len = 20;    // L
  int64_t layers = 1;          // encoder layers
  int64_t heads = 2;           // dim % heads == 0
  int64_t ffn_mult = 2;        // FFN hidden = ffn_mult * dim
  HistoryPooling pooling = HistoryPooling::kMean;
  float id_dropout = 0.0f;  // DropoutNet: P(zero an item's e_j) in training
  UnseenItems unseen_items = UnseenItems::kNoise;
  // Added to the fused score z' of every item without a trained id row
  // (unseen_items zero or learned flag them) when ranking, in evaluation and
  // serving alike; never in training, which has no such item. A logit: the
  // share of the shelf given to new items, bought with warm accuracy (the
  // model alone, calibrated on old items, ranks an item of unknown
  // popularity below the popular old ones). 0 = off. Ignored without id
  // rows or without a text side (boosts_new_items), as
  // unseen_item_neighbors is, so the ablations stay what they say: CF-only
  // cannot rank new items among themselves (all its new items tie), and
  // text-only has no id row to tell them by.
  float new_item_boost = 0.0f;
  // K > 0: an item without its id row takes the mean of the trained rows of
  // its K nearest items by text (neighbor_rows.h): an untrained item when
  // ranking (evaluation, prequential scoring, serving alike), an ID-dropped
  // item in training (trainer/loop/dropped_item_rows.h). 0 = off (the row
  // stays as unseen_items left it). Ignored without use_id or without a text
  // side (uses_text_neighbors), so the ablations stay what they say.
  int64_t unseen_item_neighbors = 0;
  Loss loss = Loss::kSampledSoftmax;
  // Positions ~ U(-s, s) and bilinear W = I + U(-s, s); linears are xavier
  // uniform (see HybridModel::init_params).
  float init_scale = 0.05f;
};

// Whether the model has both sides: id rows (which tell the untrained
// items apart) and a text side (which can rank them). The CF-only and
// text-only ablations have one each, so the keys for items without an id
// row (new_item_boost, unseen_item_neighbors) leave them as they are.
inline bool has_id_and_text(const ModelConfig& c) {
  return c.use_id && (c.use_text || c.use_text_score);
}

// Whether ranking adds new_item_boost to the items without a trained id row.
inline bool boosts_new_items(const ModelConfig& c) {
  return c.new_item_boost != 0.0f && has_id_and_text(c);
}

// Throws hybrec::Error naming the first invalid field, e.g.
// "model.heads = 3 does not divide model.dim = 32".
void validate(const ModelConfig& config);

}  // namespace hybrec::trainer
