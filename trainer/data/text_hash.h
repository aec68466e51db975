// The `hashing` text encoder: a small, dependency-free stand-in for a
// language model, so every dataset file has /items/text_emb.
//
// Each text is tokenised (ASCII letters lower-cased; a token is a run of
// ASCII letters and digits and UTF-8 bytes >= 0x80, so accented words stay
// whole), its unigrams and bigrams are hashed into 2^18 buckets, weighted
// by TF-IDF (sublinear tf = 1 + ln(count); smoothed idf = ln((1 + N) /
// (1 + df)) + 1, with df counted over the texts passed in; bigrams weigh
// kHashingBigramWeight times as much, since most bigrams of a short text
// are unique to it and at full weight would drown the shared words),
// projected to
// `dim` dimensions by a fixed random +-1/sqrt(dim) matrix that is never
// stored (each entry is a hash of (seed, bucket, column)), and
// L2-normalised. An empty text (or one without tokens) gives a zero row.
//
// Texts that share words get nearby vectors (the projection keeps cosines
// up to about 1/sqrt(dim) noise); the result depends only on the texts,
// `dim` and `seed`.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "trainer/data/dataset.h"

namespace hybrec::trainer {

inline constexpr const char* kHashingEncoder = "hashing";
inline constexpr int64_t kDefaultTextDim = 64;
inline constexpr uint64_t kDefaultHashingSeed = 0x68796272ULL;  // "hybr"
inline constexpr int kHashingBucketBits = 18;
inline constexpr double kHashingBigramWeight = 0.5;

// Lower-cased tokens of `text`, in order.
std::vector<std::string> tokenize(const std::string& text);

// [texts.size(), dim] row-major, each row unit length or zero. dim >= 1.
std::vector<float> hashing_encode(const std::vector<std::string>& texts, int64_t dim,
                                  uint64_t seed = kDefaultHashingSeed);

// The same encoding for one text at a time against a fixed corpus: the
// document frequencies are the corpus's (the text itself is not counted),
// so a new item's text or a query lands in the space of the corpus's
// vectors; encode(corpus[i]) equals hashing_encode(corpus, dim, seed)'s
// row i bit for bit. The online trainer fits it on a dataset's item texts
// for items that arrive later; serving uses it for query text.
class HashingEncoder {
 public:
  HashingEncoder(const std::vector<std::string>& corpus, int64_t dim,
                 uint64_t seed = kDefaultHashingSeed);
  std::vector<float> encode(const std::string& text) const;  // [dim]
  int64_t dim() const { return dim_; }

 private:
  int64_t dim_;
  uint64_t seed_;
  double corpus_size_;
  std::unordered_map<uint32_t, int64_t> df_;  // bucket -> corpus texts that have it
};

// Sets dataset.item_text_emb from dataset.item_text with hashing_encode,
// text_dim = dim and text_encoder = "hashing"; dim == 0 removes the
// embeddings instead.
void encode_item_text(Dataset& dataset, int64_t dim, uint64_t seed = kDefaultHashingSeed);

}  // namespace hybrec::trainer
