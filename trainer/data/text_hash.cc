#include "trainer/data/text_hash.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hybrec/kernels/error.h"
#include "trainer/data/rng.h"

namespace hybrec::trainer {

namespace {

constexpr uint64_t kBucketMask = (uint64_t{1} << kHashingBucketBits) - 1;

uint64_t fnv1a(const std::string& text, uint64_t basis) {
  uint64_t h = 0xcbf29ce484222325ULL ^ basis;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return splitmix64(h);
}

bool is_token_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

// One text's hashed features: bucket -> (count, is a bigram). Unigrams
// and bigrams hash with different bases, so "a b" never collides with a
// token "a b" except by bucket collision.
struct Feature {
  float count = 0;
  bool bigram = false;
};

std::unordered_map<uint32_t, Feature> bucket_counts(const std::string& text) {
  std::unordered_map<uint32_t, Feature> counts;
  const std::vector<std::string> tokens = tokenize(text);
  for (size_t i = 0; i < tokens.size(); ++i) {
    counts[static_cast<uint32_t>(fnv1a(tokens[i], 1) & kBucketMask)].count += 1.0f;
    if (i > 0) {
      const std::string bigram = tokens[i - 1] + ' ' + tokens[i];
      Feature& f = counts[static_cast<uint32_t>(fnv1a(bigram, 2) & kBucketMask)];
      f.count += 1.0f;
      f.bigram = true;
    }
  }
  return counts;
}

}  // namespace

std::vector<std::string> tokenize(const std::string& text) {
  std::vector<std::string> tokens;
  std::string token;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_token_byte(c)) {
      token += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : ch;
    } else if (!token.empty()) {
      tokens.push_back(std::move(token));
      token.clear();
    }
  }
  if (!token.empty()) tokens.push_back(std::move(token));
  return tokens;
}

namespace {

// One text's row: its features weighted by TF-IDF with the corpus's
// document frequencies `df` over `n` texts, projected and L2-normalised
// into dst[0..dim) (left zero when the text has no token).
void project(const std::unordered_map<uint32_t, Feature>& doc,
             const std::unordered_map<uint32_t, int64_t>& df, double n, int64_t dim, uint64_t seed,
             float* dst) {
  const int64_t words = (dim + 63) / 64;
  std::vector<double> row(static_cast<size_t>(dim), 0.0);
  for (const auto& [bucket, feature] : doc) {
    const auto it = df.find(bucket);
    const double docs_with = it == df.end() ? 0.0 : static_cast<double>(it->second);
    const double idf = std::log((1.0 + n) / (1.0 + docs_with)) + 1.0;
    const double weight =
        (1.0 + std::log(feature.count)) * idf * (feature.bigram ? kHashingBigramWeight : 1.0);
    // The projection's column signs for this bucket, 64 per hash.
    for (int64_t w = 0; w < words; ++w) {
      const uint64_t bits =
          splitmix64(seed ^ splitmix64((uint64_t{bucket} << 20) + static_cast<uint64_t>(w)));
      const int64_t end = std::min<int64_t>(64, dim - 64 * w);
      for (int64_t k = 0; k < end; ++k) {
        row[64 * w + k] += ((bits >> k) & 1) ? weight : -weight;
      }
    }
  }
  double norm = 0;
  for (const double v : row) norm += v * v;
  if (norm == 0) return;
  // Signs of +-1 rather than +-1/sqrt(dim): the scale cancels here.
  const double inv = 1.0 / std::sqrt(norm);
  for (int64_t k = 0; k < dim; ++k) dst[k] = static_cast<float>(row[k] * inv);
}

}  // namespace

std::vector<float> hashing_encode(const std::vector<std::string>& texts, int64_t dim,
                                  uint64_t seed) {
  HYBREC_CHECK(dim >= 1, "hashing encoder: dim ", dim, " must be at least 1");
  std::vector<std::unordered_map<uint32_t, Feature>> docs;
  docs.reserve(texts.size());
  std::unordered_map<uint32_t, int64_t> df;
  for (const std::string& text : texts) {
    docs.push_back(bucket_counts(text));
    for (const auto& entry : docs.back()) ++df[entry.first];
  }
  const double n = static_cast<double>(texts.size());
  std::vector<float> out(texts.size() * static_cast<size_t>(dim), 0.0f);
  for (size_t i = 0; i < docs.size(); ++i) {
    project(docs[i], df, n, dim, seed, out.data() + i * static_cast<size_t>(dim));
  }
  return out;
}

HashingEncoder::HashingEncoder(const std::vector<std::string>& corpus, int64_t dim, uint64_t seed)
    : dim_(dim), seed_(seed), corpus_size_(static_cast<double>(corpus.size())) {
  HYBREC_CHECK(dim >= 1, "hashing encoder: dim ", dim, " must be at least 1");
  for (const std::string& text : corpus) {
    for (const auto& entry : bucket_counts(text)) ++df_[entry.first];
  }
}

std::vector<float> HashingEncoder::encode(const std::string& text) const {
  std::vector<float> out(static_cast<size_t>(dim_), 0.0f);
  project(bucket_counts(text), df_, corpus_size_, dim_, seed_, out.data());
  return out;
}

void encode_item_text(Dataset& dataset, int64_t dim, uint64_t seed) {
  if (dim == 0) {
    dataset.text_dim = 0;
    dataset.item_text_emb.clear();
    dataset.text_encoder.clear();
    return;
  }
  dataset.item_text_emb = hashing_encode(dataset.item_text, dim, seed);
  dataset.text_dim = dim;
  dataset.text_encoder = kHashingEncoder;
}

}  // namespace hybrec::trainer
