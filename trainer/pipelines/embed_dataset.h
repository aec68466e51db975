// Fills a dataset's text embeddings from a sentence encoder: reads the
// dataset file, encodes every non-empty item (or user) text, and rewrites
// the file with /items/text_emb (/users/text_emb) replaced, through a
// temporary file, so an interrupted run leaves it as it was. Rows without
// text stay zero (the schema's "no text").
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "trainer/data/dataset.h"
#include "trainer/text/bert_encoder.h"

namespace hybrec::trainer {

struct EmbedReport {
  int64_t texts = 0;     // rows of the field
  int64_t embedded = 0;  // of which had text and were encoded
  int64_t dim = 0;
  double seconds = 0.0;  // encoding alone
  std::string encoder;   // the model directory's name, recorded in the file
};

// Called before encoding with the report's texts/embedded/dim/encoder set.
using EmbedStart = std::function<void(const EmbedReport&)>;

EmbedReport embed_dataset(const text::BertEncoder& encoder, const std::string& path,
                          TextField field, int64_t batch, const EmbedStart& on_start = nullptr,
                          const text::BertEncoder::Progress& progress = nullptr);

}  // namespace hybrec::trainer
