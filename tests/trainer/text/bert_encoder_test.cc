// The BERT encoder on a tiny random model against a naive double-precision
// forward written here from the BERT definition: packed batches of mixed
// lengths give each text the vector it gets alone, every pooling mode, and
// config / weight errors named.
#include "trainer/text/bert_encoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "testing/temp_dir.h"
#include "text_testing.h"

namespace hybrec::text {
namespace {

using testing::TinyBert;

// y[n, out] = x[n, in] W^T + b, in double.
std::vector<double> ref_linear(const std::vector<double>& x, int64_t n, int64_t in, int64_t out,
                               const std::vector<float>& w, const std::vector<float>& b) {
  std::vector<double> y(static_cast<std::size_t>(n * out));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < out; ++o) {
      double s = b[o];
      for (int64_t j = 0; j < in; ++j) s += x[i * in + j] * w[o * in + j];
      y[i * out + o] = s;
    }
  return y;
}

void ref_layer_norm(std::vector<double>& x, int64_t n, int64_t d, const std::vector<float>& g,
                    const std::vector<float>& b, double eps) {
  for (int64_t i = 0; i < n; ++i) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < d; ++j) mean += x[i * d + j];
    mean /= static_cast<double>(d);
    for (int64_t j = 0; j < d; ++j) var += (x[i * d + j] - mean) * (x[i * d + j] - mean);
    var /= static_cast<double>(d);
    for (int64_t j = 0; j < d; ++j)
      x[i * d + j] = (x[i * d + j] - mean) / std::sqrt(var + eps) * g[j] + b[j];
  }
}

enum class Pool { kMean, kCls, kMax };

// One sequence through the BERT definition, pooled and (optionally) normalised.
std::vector<double> reference(const TinyBert& m, const std::vector<int32_t>& ids, Pool pool,
                              bool normalize) {
  const int64_t L = static_cast<int64_t>(ids.size()), H = m.hidden, I = m.intermediate;
  const int64_t heads = m.heads, hd = H / heads;
  std::vector<double> x(static_cast<std::size_t>(L * H));
  for (int64_t t = 0; t < L; ++t)
    for (int64_t j = 0; j < H; ++j)
      x[t * H + j] = double{m["embeddings.word_embeddings.weight"][ids[t] * H + j]} +
                     m["embeddings.position_embeddings.weight"][t * H + j] +
                     m["embeddings.token_type_embeddings.weight"][j];
  ref_layer_norm(x, L, H, m["embeddings.LayerNorm.weight"], m["embeddings.LayerNorm.bias"], m.eps);
  for (int64_t l = 0; l < m.layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    auto lin = [&](const std::vector<double>& in, int64_t fi, int64_t fo, const std::string& n) {
      return ref_linear(in, L, fi, fo, m[p + n + ".weight"], m[p + n + ".bias"]);
    };
    const auto q = lin(x, H, H, "attention.self.query");
    const auto k = lin(x, H, H, "attention.self.key");
    const auto v = lin(x, H, H, "attention.self.value");
    std::vector<double> att(x.size(), 0.0);
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < L; ++i) {
        std::vector<double> s(static_cast<std::size_t>(L));
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < L; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < hd; ++e) dot += q[i * H + h * hd + e] * k[j * H + h * hd + e];
          s[j] = dot / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[j]);
        }
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (int64_t j = 0; j < L; ++j)
          for (int64_t e = 0; e < hd; ++e) att[i * H + h * hd + e] += s[j] / sum * v[j * H + h * hd + e];
      }
    auto r = lin(att, H, H, "attention.output.dense");
    for (std::size_t i = 0; i < r.size(); ++i) r[i] += x[i];
    ref_layer_norm(r, L, H, m[p + "attention.output.LayerNorm.weight"],
                   m[p + "attention.output.LayerNorm.bias"], m.eps);
    auto f = lin(r, H, I, "intermediate.dense");
    for (auto& e : f) e = 0.5 * e * (1.0 + std::erf(e / std::sqrt(2.0)));
    x = lin(f, I, H, "output.dense");
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += r[i];
    ref_layer_norm(x, L, H, m[p + "output.LayerNorm.weight"], m[p + "output.LayerNorm.bias"],
                   m.eps);
  }
  std::vector<double> out(static_cast<std::size_t>(H), 0.0);
  for (int64_t j = 0; j < H; ++j) {
    if (pool == Pool::kCls) out[j] = x[j];
    if (pool == Pool::kMax) {
      out[j] = x[j];
      for (int64_t t = 1; t < L; ++t) out[j] = std::max(out[j], x[t * H + j]);
    }
    if (pool == Pool::kMean) {
      for (int64_t t = 0; t < L; ++t) out[j] += x[t * H + j];
      out[j] /= static_cast<double>(L);
    }
  }
  if (normalize) {
    double norm = 0;
    for (double e : out) norm += e * e;
    for (double& e : out) e /= std::sqrt(norm);
  }
  return out;
}

void expect_close(const float* got, const std::vector<double>& want, const std::string& what) {
  for (std::size_t j = 0; j < want.size(); ++j) {
    ASSERT_NEAR(got[j], want[j], 2e-5 + 2e-5 * std::fabs(want[j])) << what << " dim " << j;
  }
}

void write_sentence_modules(const std::string& dir, const char* pooling, bool normalize) {
  std::filesystem::create_directories(dir + "/1_Pooling");
  std::ofstream(dir + "/modules.json")
      << "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models."
         "Transformer\"},{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":"
         "\"sentence_transformers.models.Pooling\"}"
      << (normalize ? ",{\"idx\":2,\"name\":\"2\",\"path\":\"2_Normalize\",\"type\":"
                      "\"sentence_transformers.models.Normalize\"}"
                    : "")
      << "]";
  std::ofstream(dir + "/1_Pooling/config.json")
      << "{\"word_embedding_dimension\": 8, \"pooling_mode_" << pooling << "\": true}";
}

class BertEncoderTest : public ::testing::Test {
 protected:
  hybrec::testing::TempDir dir_{"hybrec-bert"};
};

TEST_F(BertEncoderTest, PackedBatchesOfMixedLengthsMatchTheReference) {
  const TinyBert m = testing::write_tiny_bert(dir_.path(), 7);
  BertEncoder encoder(dir_.path());
  EXPECT_EQ(encoder.dim(), 8);
  EXPECT_EQ(encoder.config().pooling, Pooling::kMean);
  EXPECT_TRUE(encoder.config().normalize);  // no modules.json: mean + normalise
  // Lengths 3, 5, 5, 2, 7, 5: equal lengths adjacent and apart.
  const std::vector<std::vector<int32_t>> seqs = {{2, 4, 3},
                                                  {2, 5, 6, 7, 3},
                                                  {2, 9, 10, 11, 3},
                                                  {2, 3},
                                                  {2, 4, 5, 6, 7, 8, 3},
                                                  {2, 12, 13, 30, 3}};
  std::vector<float> batch(seqs.size() * 8);
  encoder.encode_ids(seqs, batch.data());
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    expect_close(batch.data() + i * 8, reference(m, seqs[i], Pool::kMean, true),
                 "sequence " + std::to_string(i));
    std::vector<float> alone(8);
    encoder.encode_ids({seqs[i]}, alone.data());
    for (int j = 0; j < 8; ++j) EXPECT_NEAR(alone[j], batch[i * 8 + j], 1e-6) << i;
  }
}

TEST_F(BertEncoderTest, EncodeTokenisesSortsAndRestoresTheInputOrder) {
  const TinyBert m = testing::write_tiny_bert(dir_.path(), 11);
  BertEncoder encoder(dir_.path());
  // vocab: the=4 cat=5 sat=6 on=7 mat=8 dog=9 ##s=10 . = 12
  const std::vector<std::string> texts = {"The cat sat on the mat.", "Dogs", "", "cat cat"};
  const std::vector<std::vector<int32_t>> ids = {
      {2, 4, 5, 6, 7, 4, 8, 12, 3}, {2, 9, 10, 3}, {2, 3}, {2, 5, 5, 3}};
  std::vector<float> out(texts.size() * 8);
  int64_t calls = 0, last = 0;
  encoder.encode(texts, 3, out.data(), [&](int64_t done, int64_t total) {
    ++calls;
    last = done;
    EXPECT_EQ(total, 4);
  });
  EXPECT_EQ(calls, 2);  // batches of 3 and 1
  EXPECT_EQ(last, 4);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    expect_close(out.data() + i * 8, reference(m, ids[i], Pool::kMean, true), texts[i]);
  }
  const auto one = encoder.encode_one("Dogs");
  for (int j = 0; j < 8; ++j) EXPECT_NEAR(one[j], out[8 + j], 1e-6);
}

TEST_F(BertEncoderTest, ClsAndMaxPoolingAndNoNormalisationFollowTheModules) {
  const TinyBert m = testing::write_tiny_bert(dir_.path(), 3);
  const std::vector<int32_t> seq = {2, 4, 5, 6, 3};
  for (const auto& [mode, pool] :
       {std::pair{"cls_token", Pool::kCls}, std::pair{"max_tokens", Pool::kMax},
        std::pair{"mean_tokens", Pool::kMean}}) {
    for (bool normalize : {true, false}) {
      write_sentence_modules(dir_.path(), mode, normalize);
      BertEncoder encoder(dir_.path());
      EXPECT_EQ(encoder.config().normalize, normalize);
      std::vector<float> out(8);
      encoder.encode_ids({seq}, out.data());
      expect_close(out.data(), reference(m, seq, pool, normalize),
                   std::string(mode) + (normalize ? " normalised" : ""));
    }
  }
}

// The message of the error constructing the encoder throws; "" when none.
std::string load_error(const std::string& dir) {
  try {
    BertEncoder encoder(dir);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST_F(BertEncoderTest, UnsupportedConfigsAndMissingWeightsAreNamed) {
  testing::write_tiny_bert(dir_.path(), 5);
  const std::string config = dir_ / "config.json";
  std::string e = load_error(dir_ / "nowhere");
  EXPECT_NE(e.find("does not exist"), std::string::npos) << e;

  std::ofstream(config) << "{\"model_type\": \"bert\", \"vocab_size\": 40, \"hidden_size\": 8, "
                           "\"num_hidden_layers\": 2, \"num_attention_heads\": 2, "
                           "\"intermediate_size\": 16, \"max_position_embeddings\": 32, "
                           "\"type_vocab_size\": 2, \"hidden_act\": \"gelu_new\"}";
  e = load_error(dir_.path());
  EXPECT_NE(e.find("hidden_act \"gelu_new\" is not supported"), std::string::npos) << e;

  std::ofstream(config) << "{\"model_type\": \"bert\", \"vocab_size\": 40, \"hidden_size\": 8, "
                           "\"num_hidden_layers\": 3, \"num_attention_heads\": 2, "
                           "\"intermediate_size\": 16, \"max_position_embeddings\": 32, "
                           "\"type_vocab_size\": 2}";
  e = load_error(dir_.path());  // a third layer the weights lack
  EXPECT_NE(e.find("no tensor 'encoder.layer.2.attention.self.query.weight'"), std::string::npos)
      << e;

  std::ofstream(config) << "{\"model_type\": \"bert\", \"vocab_size\": 40, \"hidden_size\": 8, "
                           "\"num_hidden_layers\": 2, \"num_attention_heads\": 3, "
                           "\"intermediate_size\": 16, \"max_position_embeddings\": 32, "
                           "\"type_vocab_size\": 2}";
  e = load_error(dir_.path());
  EXPECT_NE(e.find("not a multiple of num_attention_heads"), std::string::npos) << e;

  std::ofstream(config) << "{\"model_type\": \"bert\", \"vocab_size\": 40, \"hidden_size\": 8}";
  e = load_error(dir_.path());
  EXPECT_NE(e.find("no \"num_hidden_layers\""), std::string::npos) << e;
  EXPECT_NE(e.find(config), std::string::npos) << e;

  std::filesystem::remove(dir_ / "model.safetensors");
  e = load_error(dir_.path());
  EXPECT_NE(e.find("has no model.safetensors"), std::string::npos) << e;
}

}  // namespace
}  // namespace hybrec::text
