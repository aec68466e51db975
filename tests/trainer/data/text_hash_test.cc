// The hashing text encoder.
#include "trainer/data/text_hash.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "trainer/data/data_testing.h"

namespace hybrec::trainer {
namespace {

double cosine(const std::vector<float>& m, int64_t dim, int64_t a, int64_t b) {
  double s = 0;
  for (int64_t k = 0; k < dim; ++k) s += double{m[a * dim + k]} * m[b * dim + k];
  return s;  // rows are unit length
}

TEST(Tokenize, LowerCasesAndKeepsUtf8Bytes) {
  EXPECT_EQ(tokenize("Amélie (2001) | Comedy-Romance"),
            (std::vector<std::string>{"amélie", "2001", "comedy", "romance"}));
  EXPECT_TRUE(tokenize(" ,.| ").empty());
}

TEST(HashingEncoder, RowsAreUnitOrZeroAndDeterministic) {
  const std::vector<std::string> texts = {"toy story pixar", "", "...", "toy soldiers",
                                          "Toy Story"};
  const auto a = hashing_encode(texts, 64, 7);
  const auto b = hashing_encode(texts, 64, 7);
  EXPECT_EQ(a, b);
  ASSERT_EQ(a.size(), 5u * 64);
  for (int64_t r = 0; r < 5; ++r) {
    double norm = 0;
    for (int64_t k = 0; k < 64; ++k) norm += double{a[r * 64 + k]} * a[r * 64 + k];
    if (r == 1 || r == 2) {
      EXPECT_EQ(norm, 0.0) << "row " << r;
    } else {
      EXPECT_NEAR(norm, 1.0, 1e-5) << "row " << r;
    }
  }
  EXPECT_NE(hashing_encode(texts, 64, 8), a);
}

TEST(HashingEncoder, SharedWordsMeanCloserVectors) {
  const std::vector<std::string> texts = {"space ship alien laser galaxy", "alien galaxy space war",
                                          "romance wedding love letter", "love wedding paris"};
  const auto m = hashing_encode(texts, 128, kDefaultHashingSeed);
  EXPECT_GT(cosine(m, 128, 0, 1), cosine(m, 128, 0, 2) + 0.2);
  EXPECT_GT(cosine(m, 128, 2, 3), cosine(m, 128, 1, 3) + 0.2);
}

TEST(HashingEncoder, OddDimsAndEncodeItemText) {
  Dataset d;
  d.num_items = 2;
  d.item_text = {"a b c", ""};
  encode_item_text(d, 70);
  EXPECT_EQ(d.text_dim, 70);
  EXPECT_EQ(d.text_encoder, "hashing");
  ASSERT_EQ(d.item_text_emb.size(), 140u);
  encode_item_text(d, 0);
  EXPECT_EQ(d.text_dim, 0);
  EXPECT_TRUE(d.item_text_emb.empty());
  EXPECT_NE(testing::error_of([] { hashing_encode({"x"}, 0, 1); }).find("dim 0"),
            std::string::npos);
}

TEST(HashingEncoder, OneTextAtATimeEqualsTheCorpusEncodingAndKeepsItsFrequencies) {
  const std::vector<std::string> corpus = {"space opera with robots", "a quiet french comedy",
                                           "robots in love", "", "french robots in space"};
  const std::vector<float> batch = hashing_encode(corpus, 24);
  const HashingEncoder encoder(corpus, 24);
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    const std::vector<float> row = encoder.encode(corpus[i]);
    ASSERT_EQ(row.size(), 24u);
    for (std::size_t k = 0; k < 24; ++k) EXPECT_EQ(row[k], batch[i * 24 + k]) << i << "," << k;
  }
  // A new text is weighted by the corpus's document frequencies, not its
  // own: encoded alone by hashing_encode, every word would have idf 1.
  const std::string query = "robots comedy";
  const std::vector<float> in_corpus = encoder.encode(query);
  const std::vector<float> alone = hashing_encode({query}, 24);
  double norm = 0, diff = 0;
  for (std::size_t k = 0; k < 24; ++k) {
    norm += double(in_corpus[k]) * in_corpus[k];
    diff += std::fabs(in_corpus[k] - alone[k]);
  }
  EXPECT_NEAR(norm, 1.0, 1e-5);
  EXPECT_GT(diff, 1e-3);
}

}  // namespace
}  // namespace hybrec::trainer
