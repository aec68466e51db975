// Parity with sentence-transformers on the real all-MiniLM-L6-v2: for every
// input of the committed fixture (tests/trainer/text/fixtures/, made by
// make_minilm_reference.py: English and Chinese sentences, punctuation,
// accents, an empty string, a 600-token input truncated at 256, ...) the
// token ids equal the reference tokenizer's and the vector reaches cosine
// >= 0.9999 with the reference's, encoded one by one and in one packed batch.
// Needs the model (scripts/get-minilm.sh, or HYBREC_MINILM_DIR); skips with a
// message otherwise.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "trainer/text/bert_encoder.h"

namespace hybrec::text {
namespace {

struct Reference {
  std::string name, text;
  std::vector<int32_t> ids;
  std::vector<double> embedding;
};

std::vector<Reference> load_fixture() {
  std::ifstream in(std::string(HYBREC_SOURCE_DIR) +
                   "/tests/trainer/text/fixtures/minilm_reference.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  std::vector<Reference> refs;
  for (const auto& e : j.at("inputs")) {
    refs.push_back({e.at("name"), e.at("text"), e.at("ids").get<std::vector<int32_t>>(),
                    e.at("embedding").get<std::vector<double>>()});
  }
  return refs;
}

std::string model_dir() {
  const char* env = std::getenv("HYBREC_MINILM_DIR");
  return env != nullptr ? env : std::string(HYBREC_SOURCE_DIR) + "/models/all-MiniLM-L6-v2";
}

double cosine(const float* a, const std::vector<double>& b) {
  double dot = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    dot += a[i] * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += b[i] * b[i];
  }
  return dot / std::sqrt(na * nb);
}

class MiniLmParity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(model_dir() + "/model.safetensors")) {
      GTEST_SKIP() << "no all-MiniLM-L6-v2 at " << model_dir()
                   << ": run scripts/get-minilm.sh (or set HYBREC_MINILM_DIR)";
    }
    refs_ = load_fixture();
    ASSERT_GE(refs_.size(), 30u);
  }
  std::vector<Reference> refs_;
};

TEST_F(MiniLmParity, TokenIdsEqualTheReferenceTokenizer) {
  const BertEncoder encoder(model_dir());
  for (const auto& r : refs_) {
    EXPECT_EQ(encoder.tokenizer().encode(r.text, encoder.config().max_seq_length), r.ids)
        << r.name;
  }
}

TEST_F(MiniLmParity, VectorsReachCosine0_9999AloneAndInABatch) {
  const BertEncoder encoder(model_dir());
  ASSERT_EQ(encoder.dim(), 384);
  std::vector<std::string> texts;
  for (const auto& r : refs_) texts.push_back(r.text);
  std::vector<float> batch(texts.size() * 384);
  encoder.encode(texts, 64, batch.data());
  double worst = 1.0;
  for (std::size_t i = 0; i < refs_.size(); ++i) {
    const auto alone = encoder.encode_one(refs_[i].text);
    const double c_alone = cosine(alone.data(), refs_[i].embedding);
    const double c_batch = cosine(batch.data() + i * 384, refs_[i].embedding);
    EXPECT_GE(c_alone, 0.9999) << refs_[i].name;
    EXPECT_GE(c_batch, 0.9999) << refs_[i].name;
    worst = std::min({worst, c_alone, c_batch});
  }
  std::printf("worst cosine over %zu inputs: %.9f\n", refs_.size(), worst);
}

}  // namespace
}  // namespace hybrec::text
