// Fixtures for the text suites: safetensors files written byte by byte, and a
// tiny random BERT model directory (config.json, vocab.txt,
// tokenizer_config.json, model.safetensors) with its weights kept for a
// reference forward.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace hybrec::text::testing {

struct RawTensor {
  std::string name;
  std::string dtype;  // "F32", "F16", ...
  std::vector<int64_t> shape;
  std::string bytes;  // little-endian payload
};

inline std::string f32_bytes(const std::vector<float>& v) {
  std::string s(v.size() * sizeof(float), '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

// Writes the tensors in order; header_override replaces the JSON header.
inline void write_safetensors(const std::string& path, const std::vector<RawTensor>& tensors,
                              const std::string& header_override = "") {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header += ",\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + t.bytes.size()) + "]}";
    offset += t.bytes.size();
  }
  header += "}";
  if (!header_override.empty()) header = header_override;
  while (header.size() % 8 != 0) header += ' ';
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header;
  for (const auto& t : tensors) out << t.bytes;
}

// A tiny BERT: its weights by Hugging Face name, and its shape.
struct TinyBert {
  int64_t vocab = 0, hidden = 0, layers = 0, heads = 0, intermediate = 0, positions = 0;
  float eps = 1e-12f;
  std::map<std::string, std::vector<float>> weights;
  std::map<std::string, std::vector<int64_t>> shapes;
  const std::vector<float>& operator[](const std::string& name) const { return weights.at(name); }
};

inline TinyBert write_tiny_bert(const std::string& dir, uint64_t seed, int64_t vocab = 40,
                                int64_t hidden = 8, int64_t layers = 2, int64_t heads = 2,
                                int64_t intermediate = 16, int64_t positions = 32) {
  TinyBert m{vocab, hidden, layers, heads, intermediate, positions, 1e-12f, {}, {}};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  std::vector<RawTensor> raw;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float base = 0.0f) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = base + normal(rng);
    raw.push_back({name, "F32", shape, f32_bytes(v)});
    m.weights[name] = v;
    m.shapes[name] = shape;
  };
  const int64_t H = hidden, I = intermediate;
  add("embeddings.word_embeddings.weight", {vocab, H});
  add("embeddings.position_embeddings.weight", {positions, H});
  add("embeddings.token_type_embeddings.weight", {2, H});
  add("embeddings.LayerNorm.weight", {H}, 1.0f);
  add("embeddings.LayerNorm.bias", {H});
  for (int64_t l = 0; l < layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* proj : {"query", "key", "value"}) {
      add(p + "attention.self." + proj + ".weight", {H, H});
      add(p + "attention.self." + proj + ".bias", {H});
    }
    add(p + "attention.output.dense.weight", {H, H});
    add(p + "attention.output.dense.bias", {H});
    add(p + "attention.output.LayerNorm.weight", {H}, 1.0f);
    add(p + "attention.output.LayerNorm.bias", {H});
    add(p + "intermediate.dense.weight", {I, H});
    add(p + "intermediate.dense.bias", {I});
    add(p + "output.dense.weight", {H, I});
    add(p + "output.dense.bias", {H});
    add(p + "output.LayerNorm.weight", {H}, 1.0f);
    add(p + "output.LayerNorm.bias", {H});
  }
  write_safetensors(dir + "/model.safetensors", raw);
  std::ofstream(dir + "/config.json")
      << "{\"model_type\": \"bert\", \"vocab_size\": " << vocab << ", \"hidden_size\": " << H
      << ", \"num_hidden_layers\": " << layers << ", \"num_attention_heads\": " << heads
      << ", \"intermediate_size\": " << I << ", \"max_position_embeddings\": " << positions
      << ", \"type_vocab_size\": 2, \"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\"}";
  // [PAD] [UNK] [CLS] [SEP] then words w4.. and a few real ones.
  std::ofstream voc(dir + "/vocab.txt");
  const char* words[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat",
                         "dog", "##s", "run", ".", ","};
  for (int64_t i = 0; i < vocab; ++i) {
    if (i < static_cast<int64_t>(sizeof words / sizeof *words)) {
      voc << words[i] << "\n";
    } else {
      voc << "w" << i << "\n";
    }
  }
  std::ofstream(dir + "/tokenizer_config.json") << "{\"do_lower_case\": true}";
  return m;
}

}  // namespace hybrec::text::testing
