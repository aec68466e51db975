// The text encoder for items that arrive after the dataset: the one that
// wrote the dataset's item vectors (Dataset::text_encoder), so a new item's
// text lands in the space the model was trained on.
#pragma once

#include <string>

#include "trainer/data/dataset.h"
#include "trainer/loop/stream_state.h"

namespace hybrec::trainer {

// "hashing": trainer/data/text_hash.h's HashingEncoder fitted on the
// dataset's item texts (their document frequencies). A model name (hybrec
// embed's): the BERT encoder in `model_dir` (stream.text_model), whose
// directory name and dimension must match the dataset's; without a
// model_dir this throws, naming the model the dataset needs. Empty when
// the dataset has no item text vectors.
ItemTextEncoder make_item_text_encoder(const Dataset& data, const std::string& model_dir);

}  // namespace hybrec::trainer
