#include "trainer/text/bert_config.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "hybrec/kernels/error.h"

namespace hybrec::text {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_json(const fs::path& path) {
  std::ifstream in(path);
  HYBREC_CHECK(in.good(), "model file ", path.string(), ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    HYBREC_THROW("model file ", path.string(), ": not valid JSON: ", e.what());
  }
}

int64_t positive(const json& j, const char* key, const fs::path& path) {
  HYBREC_CHECK(j.contains(key), "model file ", path.string(), ": no \"", key, "\"");
  HYBREC_CHECK(j[key].is_number_integer() && j[key].get<int64_t>() > 0, "model file ",
               path.string(), ": \"", key, "\" is not a positive integer");
  return j[key].get<int64_t>();
}

// A string key when present and not null; `fallback` otherwise.
std::string string_or(const json& j, const char* key, const std::string& fallback,
                      const fs::path& path) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  HYBREC_CHECK(j[key].is_string(), "model file ", path.string(), ": \"", key,
               "\" is not a string");
  return j[key].get<std::string>();
}

bool bool_or(const json& j, const char* key, bool fallback, const fs::path& path) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  HYBREC_CHECK(j[key].is_boolean(), "model file ", path.string(), ": \"", key,
               "\" is not true or false");
  return j[key].get<bool>();
}

void read_architecture(const fs::path& path, BertConfig& c) {
  const json j = read_json(path);
  const std::string type = string_or(j, "model_type", "bert", path);
  HYBREC_CHECK(type == "bert", "model file ", path.string(), ": model_type \"", type,
               "\" is not supported (BERT-family checkpoints with model_type bert)");
  c.vocab_size = positive(j, "vocab_size", path);
  c.hidden = positive(j, "hidden_size", path);
  c.layers = positive(j, "num_hidden_layers", path);
  c.heads = positive(j, "num_attention_heads", path);
  c.intermediate = positive(j, "intermediate_size", path);
  c.max_positions = positive(j, "max_position_embeddings", path);
  c.type_vocab_size = positive(j, "type_vocab_size", path);
  HYBREC_CHECK(c.hidden % c.heads == 0, "model file ", path.string(), ": hidden_size ", c.hidden,
               " is not a multiple of num_attention_heads ", c.heads);
  if (j.contains("layer_norm_eps")) {
    HYBREC_CHECK(j["layer_norm_eps"].is_number(), "model file ", path.string(),
                 ": \"layer_norm_eps\" is not a number");
    c.layer_norm_eps = j["layer_norm_eps"].get<float>();
  }
  const std::string act = string_or(j, "hidden_act", "gelu", path);
  HYBREC_CHECK(act == "gelu", "model file ", path.string(), ": hidden_act \"", act,
               "\" is not supported (the exact-erf \"gelu\" is)");
  const std::string positions = string_or(j, "position_embedding_type", "absolute", path);
  HYBREC_CHECK(positions == "absolute", "model file ", path.string(),
               ": position_embedding_type \"", positions, "\" is not supported (\"absolute\" is)");
}

void read_tokenizer_settings(const fs::path& path, TokenizerOptions& t) {
  if (!fs::exists(path)) return;  // BERT's defaults: uncased
  const json j = read_json(path);
  t.lower_case = bool_or(j, "do_lower_case", t.lower_case, path);
  t.strip_accents = bool_or(j, "strip_accents", t.lower_case, path);
  t.tokenize_chinese_chars = bool_or(j, "tokenize_chinese_chars", true, path);
  t.unk_token = string_or(j, "unk_token", t.unk_token, path);
  t.cls_token = string_or(j, "cls_token", t.cls_token, path);
  t.sep_token = string_or(j, "sep_token", t.sep_token, path);
  t.pad_token = string_or(j, "pad_token", t.pad_token, path);
}

// sentence-transformers: the pooling module's settings and whether a
// Normalize module follows.
void read_sentence_modules(const fs::path& dir, BertConfig& c) {
  const fs::path modules_path = dir / "modules.json";
  if (!fs::exists(modules_path)) return;
  const json modules = read_json(modules_path);
  HYBREC_CHECK(modules.is_array(), "model file ", modules_path.string(), ": not a list of modules");
  c.normalize = false;
  for (const auto& m : modules) {
    const std::string type = string_or(m, "type", "", modules_path);
    if (type.find("Normalize") != std::string::npos) c.normalize = true;
    if (type.find("Pooling") == std::string::npos) continue;
    const fs::path pooling_path = dir / string_or(m, "path", "1_Pooling", modules_path) / "config.json";
    const json p = read_json(pooling_path);
    const bool mean = bool_or(p, "pooling_mode_mean_tokens", false, pooling_path);
    const bool cls = bool_or(p, "pooling_mode_cls_token", false, pooling_path);
    const bool max = bool_or(p, "pooling_mode_max_tokens", false, pooling_path);
    const bool sqrt_len = bool_or(p, "pooling_mode_mean_sqrt_len_tokens", false, pooling_path);
    HYBREC_CHECK(int{mean} + int{cls} + int{max} == 1 && !sqrt_len, "model file ",
                 pooling_path.string(),
                 ": exactly one of pooling_mode_mean_tokens, pooling_mode_cls_token, "
                 "pooling_mode_max_tokens must be true (others are not supported)");
    c.pooling = mean ? Pooling::kMean : cls ? Pooling::kCls : Pooling::kMax;
  }
}

}  // namespace

const char* pooling_name(Pooling pooling) {
  switch (pooling) {
    case Pooling::kMean: return "mean";
    case Pooling::kCls: return "cls";
    case Pooling::kMax: return "max";
  }
  return "?";
}

BertConfig read_bert_config(const std::string& model_dir) {
  const fs::path dir(model_dir);
  HYBREC_CHECK(fs::is_directory(dir), "model directory ", model_dir,
               " does not exist (scripts/get-minilm.sh places all-MiniLM-L6-v2 in "
               "models/all-MiniLM-L6-v2)");
  for (const char* required : {"config.json", "vocab.txt", "model.safetensors"}) {
    HYBREC_CHECK(fs::exists(dir / required), "model directory ", model_dir, " has no ", required,
                 " (a Hugging Face BERT directory has config.json, vocab.txt and "
                 "model.safetensors)");
  }
  BertConfig c;
  c.dir = model_dir;
  read_architecture(dir / "config.json", c);
  read_tokenizer_settings(dir / "tokenizer_config.json", c.tokenizer);
  read_sentence_modules(dir, c);
  c.max_seq_length = c.max_positions;
  const fs::path st_path = dir / "sentence_bert_config.json";
  if (fs::exists(st_path)) {
    const json j = read_json(st_path);
    if (j.contains("max_seq_length")) c.max_seq_length = positive(j, "max_seq_length", st_path);
  }
  HYBREC_CHECK(c.max_seq_length >= 2 && c.max_seq_length <= c.max_positions, "model directory ",
               model_dir, ": max_seq_length ", c.max_seq_length, " outside [2, ",
               c.max_positions, "] (max_position_embeddings)");
  return c;
}

}  // namespace hybrec::text
