#include "trainer/model/model_config.h"

#include <cmath>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

void validate(const ModelConfig& c) {
  HYBREC_CHECK(c.dim > 0, "model.dim = ", c.dim, " must be positive");
  HYBREC_CHECK(c.text_dim >= 0, "model.text_dim = ", c.text_dim, " must not be negative");
  HYBREC_CHECK(c.use_id || c.use_text,
               "model.use_id and model.use_text are both false: items would have no vector");
  HYBREC_CHECK(c.use_id || c.use_history,
               "model.use_id and model.use_history are both false: users would have no vector");
  HYBREC_CHECK(!c.use_text || c.text_dim > 0,
               "model.use_text needs item text vectors but model.text_dim = ", c.text_dim);
  HYBREC_CHECK(!c.use_text_score || c.text_dim > 0,
               "model.use_text_score needs item text vectors but model.text_dim = ", c.text_dim);
  HYBREC_CHECK(c.history_len >= 0, "model.history_len = ", c.history_len, " must not be negative");
  HYBREC_CHECK(std::isfinite(c.lambda_init), "model.lambda_init = ", c.lambda_init,
               " is not finite");
  HYBREC_CHECK(c.id_dropout >= 0.0f && c.id_dropout <= 1.0f, "model.id_dropout = ", c.id_dropout,
               " is not in [0, 1]");
  HYBREC_CHECK(std::isfinite(c.new_item_boost), "model.new_item_boost = ", c.new_item_boost,
               " is not finite");
  // The ablations ignore the key (boosts_new_items), as they ignore
  // unseen_item_neighbors below.
  HYBREC_CHECK(!boosts_new_items(c) || c.unseen_items != UnseenItems::kNoise,
               "model.new_item_boost needs model.unseen_items = zero or learned: with noise "
               "rows an untrained item cannot be told apart");
  HYBREC_CHECK(c.unseen_item_neighbors >= 0,
               "model.unseen_item_neighbors = ", c.unseen_item_neighbors, " must not be negative");
  // The text-only ablation (no id rows) and the CF-only one (no text side)
  // ignore the key (neighbor_rows.h), so an ablation needs no second
  // override; a text side already needs text vectors (above).
  HYBREC_CHECK(c.unseen_item_neighbors == 0 || !c.use_id || c.unseen_items != UnseenItems::kNoise,
               "model.unseen_item_neighbors needs model.unseen_items = zero or learned: it fills "
               "the rows of untrained items, and with noise rows an untrained item cannot be "
               "told apart");
  HYBREC_CHECK(c.init_scale > 0.0f && std::isfinite(c.init_scale),
               "model.init_scale = ", c.init_scale, " must be positive");
  if (c.use_history) {
    HYBREC_CHECK(c.history_len > 0, "model.history_len = ", c.history_len,
                 " must be positive with model.use_history");
    HYBREC_CHECK(c.layers >= 0, "model.layers = ", c.layers, " must not be negative");
    HYBREC_CHECK(c.heads > 0, "model.heads = ", c.heads, " must be positive");
    HYBREC_CHECK(c.dim % c.heads == 0, "model.heads = ", c.heads,
                 " does not divide model.dim = ", c.dim);
    HYBREC_CHECK(c.ffn_mult > 0, "model.ffn_mult = ", c.ffn_mult, " must be positive");
  }
}

}  // namespace hybrec::trainer
