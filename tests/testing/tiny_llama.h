// A tiny random Llama-architecture model as GGUF bytes (F32 weights, seeded
// uniform values in [-0.5, 0.5)): dim 8, 2 query heads sharing 1 KV head of
// 4, FFN 12, vocabulary 10, 2 layers, context 6 unless the spec says
// otherwise; with byte_tokenizer, vocabulary 256 and the tokenizer.ggml.*
// keys of testing/byte_vocab.h's one-token-per-byte vocabulary, so the file
// is a complete decoder for commands that load one. For the decoder's
// loader, cache and continuation tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "testing/byte_vocab.h"
#include "testing/gguf_bytes.h"

namespace hybrec::testing {

struct TinyLlamaSpec {
  std::string architecture = "llama";
  std::string drop;      // a tensor left out
  std::string misshape;  // a tensor given one extra row
  bool untied = false;   // write output.weight
  uint32_t vocab = 10;
  uint32_t context = 6;
  bool byte_tokenizer = false;  // forces vocab 256
};

constexpr uint32_t kTinyDim = 8, kTinyHeads = 2, kTinyKvHeads = 1, kTinyFfn = 12, kTinyLayers = 2;

// The file's bytes; *output_weight gets output.weight's values when untied.
inline std::string tiny_llama_gguf(const TinyLlamaSpec& spec,
                                   std::vector<float>* output_weight = nullptr) {
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;  // ggml order
    std::vector<float> values;
  };
  const uint32_t vocab = spec.byte_tokenizer ? 256 : spec.vocab;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> uni(-0.5f, 0.5f);
  auto random = [&](std::size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = uni(rng);
    return v;
  };
  const uint32_t hd = kTinyDim / kTinyHeads;
  std::vector<Tensor> tensors;
  auto add = [&](const std::string& name, uint64_t in, uint64_t out) {
    if (name == spec.drop) return;
    if (name == spec.misshape) ++out;
    std::vector<uint64_t> ne{in};
    if (out > 0) ne.push_back(out);
    tensors.push_back({name, ne, random(in * std::max<uint64_t>(out, 1))});
  };
  add("token_embd.weight", kTinyDim, vocab);
  add("output_norm.weight", kTinyDim, 0);
  if (spec.untied) add("output.weight", kTinyDim, vocab);
  for (uint32_t l = 0; l < kTinyLayers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", kTinyDim, 0);
    add(p + "ffn_norm.weight", kTinyDim, 0);
    add(p + "attn_q.weight", kTinyDim, kTinyHeads * hd);
    add(p + "attn_k.weight", kTinyDim, kTinyKvHeads * hd);
    add(p + "attn_v.weight", kTinyDim, kTinyKvHeads * hd);
    add(p + "attn_output.weight", kTinyHeads * hd, kTinyDim);
    add(p + "ffn_gate.weight", kTinyDim, kTinyFfn);
    add(p + "ffn_up.weight", kTinyDim, kTinyFfn);
    add(p + "ffn_down.weight", kTinyFfn, kTinyDim);
  }
  if (output_weight != nullptr && spec.untied) {
    for (const auto& t : tensors)
      if (t.name == "output.weight") *output_weight = t.values;
  }

  std::string b = "GGUF";
  put<uint32_t>(b, 3);
  put<uint64_t>(b, tensors.size());
  const std::vector<std::pair<std::string, uint32_t>> counts = {
      {"llama.block_count", kTinyLayers},         {"llama.embedding_length", kTinyDim},
      {"llama.attention.head_count", kTinyHeads}, {"llama.attention.head_count_kv", kTinyKvHeads},
      {"llama.feed_forward_length", kTinyFfn},    {"llama.context_length", spec.context}};
  put<uint64_t>(b, counts.size() + 3 + (spec.byte_tokenizer ? 7 : 0));
  if (spec.byte_tokenizer) {
    auto string_kv = [&](const std::string& key, const std::string& value) {
      put_string(b, key);
      put<uint32_t>(b, 8);
      put_string(b, value);
    };
    auto array_header = [&](const std::string& key, uint32_t type, uint64_t n) {
      put_string(b, key);
      put<uint32_t>(b, 9);
      put<uint32_t>(b, type);
      put<uint64_t>(b, n);
    };
    string_kv("tokenizer.ggml.model", "gpt2");
    string_kv("tokenizer.ggml.pre", "gpt2");
    array_header("tokenizer.ggml.tokens", 8, 256);
    for (int t = 0; t < 256; ++t) put_string(b, byte_symbol(t));
    array_header("tokenizer.ggml.merges", 8, 0);
    array_header("tokenizer.ggml.token_type", 5, 256);
    for (int t = 0; t < 256; ++t) put<int32_t>(b, 1);
    for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"}) {
      put_string(b, key);
      put<uint32_t>(b, 4);
      put<uint32_t>(b, 0);
    }
  }
  put_string(b, "general.architecture");
  put<uint32_t>(b, 8);
  put_string(b, spec.architecture);
  for (const auto& [key, v] : counts) {
    put_string(b, key);
    put<uint32_t>(b, 4);
    put<uint32_t>(b, v);
  }
  put_string(b, "llama.rope.freq_base");
  put<uint32_t>(b, 6);
  put<float>(b, 10000.0f);
  put_string(b, "llama.attention.layer_norm_rms_epsilon");
  put<uint32_t>(b, 6);
  put<float>(b, 1e-5f);
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    put_string(b, t.name);
    put<uint32_t>(b, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) put<uint64_t>(b, d);
    put<uint32_t>(b, 0);  // F32
    put<uint64_t>(b, offset);
    offset += (t.values.size() * 4 + 31) / 32 * 32;
  }
  b.resize((b.size() + 31) / 32 * 32, '\0');
  for (const auto& t : tensors) {
    std::string bytes(t.values.size() * 4, '\0');
    std::memcpy(bytes.data(), t.values.data(), bytes.size());
    bytes.resize((bytes.size() + 31) / 32 * 32, '\0');
    b += bytes;
  }
  return b;
}

}  // namespace hybrec::testing
