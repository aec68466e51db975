// Search-query text into the space of the catalogue's text vectors: the
// encoder that made the dataset's item vectors (its `text_encoder`), or the
// query's cosines with the items would mean nothing. "hashing": the hashing
// encoder fitted on the catalogue's texts (their document frequencies); a
// model name: hybrec's BERT encoder from a model directory (`hybrec embed`'s
// code), which must be that model.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/data/text_hash.h"
#include "trainer/text/bert_encoder.h"

namespace hybrec::serving {

class QueryEncoder {
 public:
  // text_model: a BERT model directory, required when the dataset's encoder
  // is not "hashing" (its name must match the directory's name). Throws
  // naming what is missing or mismatched.
  QueryEncoder(const trainer::Dataset& data, const std::string& text_model);
  ~QueryEncoder();

  int64_t dim() const { return dim_; }
  const std::string& encoder_name() const { return name_; }
  // The unit query vector [dim] (zero for text without tokens). Long texts
  // are truncated as the encoder truncates (BERT: its max positions).
  // Thread-safe.
  std::vector<float> encode(const std::string& text) const;

 private:
  std::string name_;
  int64_t dim_ = 0;
  std::unique_ptr<trainer::HashingEncoder> hashing_;
  std::unique_ptr<text::BertEncoder> bert_;
  mutable std::mutex bert_mutex_;  // one BERT forward at a time
};

}  // namespace hybrec::serving
