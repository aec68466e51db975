#include "trainer/loop/config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {
namespace {

// One config key: its name ("section.key"), how to set it from a TOML value
// or from --set text, and how to print it back.
struct Key {
  std::string name;
  std::function<void(const toml::node&, const std::string& where)> from_toml;
  std::function<void(const std::string& text, const std::string& where)> from_text;
  std::function<std::string()> to_text;
};

std::string quote(const std::string& s) {
  std::ostringstream out;
  out << '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out << '\\';
    out << c;
  }
  out << '"';
  return out.str();
}

Key int_key(const std::string& name, int64_t* field, int64_t lo, int64_t hi) {
  auto check = [=](int64_t v, const std::string& where) {
    HYBREC_CHECK(v >= lo && v <= hi, where, ": ", name, " = ", v, " out of range [", lo, ", ", hi,
                 "]");
    *field = v;
  };
  return {name,
          [=](const toml::node& node, const std::string& where) {
            auto v = node.value_exact<int64_t>();
            HYBREC_CHECK(v.has_value(), where, ": ", name, " must be an integer");
            check(*v, where);
          },
          [=](const std::string& text, const std::string& where) {
            std::size_t used = 0;
            int64_t v = 0;
            try {
              v = std::stoll(text, &used);
            } catch (const std::exception&) {
              used = 0;
            }
            HYBREC_CHECK(used == text.size() && !text.empty(), where, ": ", name,
                         " must be an integer, got '", text, "'");
            check(v, where);
          },
          [=] { return std::to_string(*field); }};
}

template <typename Float>
Key float_key(const std::string& name, Float* field, double lo, double hi) {
  auto check = [=](double v, const std::string& where) {
    HYBREC_CHECK(std::isfinite(v) && v >= lo && v <= hi, where, ": ", name, " = ", v,
                 " out of range [", lo, ", ", hi, "]");
    *field = static_cast<Float>(v);
  };
  return {name,
          [=](const toml::node& node, const std::string& where) {
            auto v = node.value<double>();  // integers are accepted as floats
            HYBREC_CHECK(v.has_value() && !node.is_boolean(), where, ": ", name,
                         " must be a number");
            check(*v, where);
          },
          [=](const std::string& text, const std::string& where) {
            std::size_t used = 0;
            double v = 0;
            try {
              v = std::stod(text, &used);
            } catch (const std::exception&) {
              used = 0;
            }
            HYBREC_CHECK(used == text.size() && !text.empty(), where, ": ", name,
                         " must be a number, got '", text, "'");
            check(v, where);
          },
          [=] {
            std::ostringstream out;
            out.precision(9);
            out << static_cast<double>(*field);
            std::string s = out.str();
            if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
            return s;
          }};
}

Key bool_key(const std::string& name, bool* field) {
  return {name,
          [=](const toml::node& node, const std::string& where) {
            auto v = node.value_exact<bool>();
            HYBREC_CHECK(v.has_value(), where, ": ", name, " must be true or false");
            *field = *v;
          },
          [=](const std::string& text, const std::string& where) {
            HYBREC_CHECK(text == "true" || text == "false", where, ": ", name,
                         " must be true or false, got '", text, "'");
            *field = text == "true";
          },
          [=] { return std::string(*field ? "true" : "false"); }};
}

Key string_key(const std::string& name, std::string* field) {
  return {name,
          [=](const toml::node& node, const std::string& where) {
            auto v = node.value_exact<std::string>();
            HYBREC_CHECK(v.has_value(), where, ": ", name, " must be a string");
            *field = *v;
          },
          [=](const std::string& text, const std::string&) { *field = text; },
          [=] { return quote(*field); }};
}

// A list of numbers in [lo, hi]: a TOML array, or comma-separated with
// --set ("0.1,0.5,1"; "" = empty).
Key float_list_key(const std::string& name, std::vector<double>* field, double lo, double hi) {
  auto check = [=](double v, std::size_t index, const std::string& where) {
    HYBREC_CHECK(std::isfinite(v) && v >= lo && v <= hi, where, ": ", name, "[", index, "] = ", v,
                 " out of range [", lo, ", ", hi, "]");
  };
  return {name,
          [=](const toml::node& node, const std::string& where) {
            const toml::array* array = node.as_array();
            HYBREC_CHECK(array != nullptr, where, ": ", name, " must be an array of numbers");
            std::vector<double> values;
            for (std::size_t i = 0; i < array->size(); ++i) {
              const toml::node& item = *array->get(i);
              auto v = item.value<double>();
              HYBREC_CHECK(v.has_value() && !item.is_boolean(), where, ": ", name, "[", i,
                           "] must be a number");
              check(*v, i, where);
              values.push_back(*v);
            }
            *field = std::move(values);
          },
          [=](const std::string& text, const std::string& where) {
            std::vector<double> values;
            std::size_t begin = 0;
            while (!text.empty() && begin <= text.size()) {
              const std::size_t comma = std::min(text.find(',', begin), text.size());
              const std::string part = text.substr(begin, comma - begin);
              std::size_t used = 0;
              double v = 0;
              try {
                v = std::stod(part, &used);
              } catch (const std::exception&) {
                used = 0;
              }
              HYBREC_CHECK(used == part.size() && !part.empty(), where, ": ", name, "[",
                           values.size(), "] must be a number, got '", part, "'");
              check(v, values.size(), where);
              values.push_back(v);
              begin = comma + 1;
            }
            *field = std::move(values);
          },
          [=] {
            std::ostringstream out;
            out.precision(9);
            out << "[";
            for (std::size_t i = 0; i < field->size(); ++i) {
              out << (i == 0 ? "" : ", ") << (*field)[i];
            }
            out << "]";
            return out.str();
          }};
}

// An enum spelled as one of `names` (index = enum value).
template <typename Enum>
Key enum_key(const std::string& name, Enum* field, std::vector<std::string> names) {
  auto set = [=](const std::string& text, const std::string& where) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == text) {
        *field = static_cast<Enum>(i);
        return;
      }
    }
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    HYBREC_THROW(where, ": ", name, " = '", text, "' is not one of: ", list);
  };
  return {name,
          [=](const toml::node& node, const std::string& where) {
            auto v = node.value_exact<std::string>();
            HYBREC_CHECK(v.has_value(), where, ": ", name, " must be a string");
            set(*v, where);
          },
          set, [=] { return quote(names[static_cast<std::size_t>(*field)]); }};
}

constexpr int64_t kBig = std::numeric_limits<int32_t>::max();

std::vector<Key> keys_of(TrainConfig& c) {
  ModelConfig& m = c.model;
  TrainOptions& t = c.train;
  return {
      string_key("data.path", &c.data_path),
      float_key("data.before_time_quantile", &c.before_time_quantile, 0.0, 1.0),
      int_key("model.dim", &m.dim, 1, 4096),
      int_key("model.history_len", &m.history_len, 1, 512),
      int_key("model.layers", &m.layers, 0, 16),
      int_key("model.heads", &m.heads, 1, 64),
      int_key("model.ffn_mult", &m.ffn_mult, 1, 16),
      enum_key("model.pooling", &m.pooling, {"mean", "last"}),
      bool_key("model.use_id", &m.use_id),
      bool_key("model.use_text", &m.use_text),
      bool_key("model.use_history", &m.use_history),
      bool_key("model.use_text_score", &m.use_text_score),
      float_key("model.lambda_init", &m.lambda_init, -100.0, 100.0),
      float_key("model.id_dropout", &m.id_dropout, 0.0, 1.0),
      enum_key("model.unseen_items", &m.unseen_items, {"noise", "zero", "learned"}),
      float_key("model.new_item_boost", &m.new_item_boost, -1e6, 1e6),
      int_key("model.unseen_item_neighbors", &m.unseen_item_neighbors, 0, 1 << 20),
      enum_key("model.loss", &m.loss, {"sampled_softmax", "bce"}),
      float_key("model.init_scale", &m.init_scale, 0.0, 10.0),
      int_key("train.batch_size", &t.batch_size, 1, 1 << 20),
      int_key("train.negatives", &t.negatives, 1, 4096),
      enum_key("train.sampler", &t.sampler, {"uniform", "popularity"}),
      float_key("train.popularity_alpha", &t.popularity_alpha, 0.0, 2.0),
      int_key("train.epochs", &t.epochs, 0, 100000),
      int_key("train.max_steps", &t.max_steps, 0, kBig),
      int_key("train.seed", &t.seed, 0, kBig),
      float_key("train.lr", &t.lr, 0.0, 10.0),
      float_key("train.weight_decay", &t.weight_decay, 0.0, 10.0),
      int_key("train.warmup_steps", &t.warmup_steps, 0, kBig),
      enum_key("train.decay", &t.decay, {"none", "linear", "cosine"}),
      float_key("train.min_lr_ratio", &t.min_lr_ratio, 0.0, 1.0),
      float_key("train.clip_norm", &t.clip_norm, 0.0, 1e6),
      enum_key("train.sparse_optimizer", &t.sparse_optimizer, {"rowwise_adagrad", "adam"}),
      float_key("train.sparse_lr", &t.sparse_lr, 0.0, 100.0),
      float_key("train.sparse_init_scale", &t.sparse_init_scale, 0.0, 10.0),
      bool_key("train.sync", &t.sync),
      int_key("train.eval_every", &t.eval_every, 0, kBig),
      int_key("train.patience", &t.patience, 0, 1000),
      int_key("train.checkpoint_every", &t.checkpoint_every, 0, kBig),
      int_key("train.keep_checkpoints", &t.keep_checkpoints, 1, 1000000),
      int_key("train.log_every_s", &t.log_every_s, 1, 86400),
      int_key("train.threads", &t.threads, 0, 1024),
      int_key("train.bucket_kib", &t.bucket_kib, 1, 1 << 20),
      enum_key("train.device", &t.device, {"cpu", "cuda"}),
      int_key("train.cache_rows", &t.cache_rows, 0, kBig),
      int_key("train.cache_sync_steps", &t.cache_sync_steps, 0, kBig),
      int_key("train.device_memory_mib", &t.device_memory_mib, 0, kBig),
      int_key("eval.k", &c.eval.k, 1, 1000),
      int_key("eval.auc_negatives", &c.eval.auc_negatives, 1, 100000),
      int_key("eval.max_users", &c.eval.max_users, 0, kBig),
      int_key("ps.local_shards", &c.ps.local_shards, 1, 64),
      int_key("ps.max_frame_mib", &c.ps.max_frame_mib, 1, 2047),
      int_key("ps.retry_attempts", &c.ps.retry_attempts, 1, 1000),
      int_key("ps.max_rows", &c.ps.max_rows, 0, kBig),
      int_key("ps.admit_after", &c.ps.admit_after, 0, 255),
      float_key("ps.ttl_s", &c.ps.ttl_s, 0.0, 1e9),
      string_key("ps.tls_cert", &c.ps.tls_cert),
      string_key("ps.tls_key", &c.ps.tls_key),
      string_key("ps.tls_ca", &c.ps.tls_ca),
      string_key("ps.auth_token_file", &c.ps.auth_token_file),
      enum_key("ps.on_restart", &c.ps.on_restart, {"stop", "rewind"}),
      int_key("ps.max_rewinds", &c.ps.max_rewinds, 0, 1000),
      string_key("stream.url", &c.stream.url),
      int_key("stream.batch", &c.stream.batch, 1, 1 << 20),
      int_key("stream.max_wait_ms", &c.stream.max_wait_ms, 0, 3600000),
      int_key("stream.checkpoint_every", &c.stream.checkpoint_every, 0, kBig),
      int_key("stream.stop_after", &c.stream.stop_after, 0, std::numeric_limits<int64_t>::max()),
      float_key("stream.idle_stop_s", &c.stream.idle_stop_s, 0.0, 1e9),
      string_key("stream.text_model", &c.stream.text_model),
      bool_key("stream.learn", &c.stream.learn),
      int_key("stream.prequential_k", &c.stream.prequential_k, 0, 1000),
      int_key("rerank.generated_n", &c.rerank.generated_n, 0, 1000),
      float_key("rerank.generated_lambda", &c.rerank.generated_lambda, 0.0, 1000.0),
      float_list_key("rerank.lambda_grid", &c.rerank.lambda_grid, 0.0, 1000.0),
      string_key("rerank.model", &c.rerank.model),
      int_key("rerank.history_titles", &c.rerank.history_titles, 0, 100),
      int_key("rerank.title_tokens", &c.rerank.title_tokens, 1, 256),
      int_key("rerank.max_users", &c.rerank.max_users, 0, kBig),
      bool_key("rerank.test_curve", &c.rerank.test_curve),
  };
}

const Key* find_key(const std::vector<Key>& keys, const std::string& name) {
  for (const auto& k : keys) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

void apply_overrides(std::vector<Key>& keys, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    HYBREC_CHECK(eq != std::string::npos && eq > 0, "--set '", o, "': expected section.key=value");
    const std::string name = o.substr(0, eq);
    const Key* key = find_key(keys, name);
    HYBREC_CHECK(key != nullptr, "--set: unknown config key '", name, "'");
    key->from_text(o.substr(eq + 1), "--set " + name);
  }
}

}  // namespace

TrainConfig parse_config(const std::string& toml_text, const std::string& source,
                         const std::vector<std::string>& overrides) {
  TrainConfig config;
  config.source = source;
  std::vector<Key> keys = keys_of(config);
  const std::string where = "config " + source;
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    HYBREC_THROW(where, ": ", e.description(), " at line ", e.source().begin.line);
  }
  for (auto&& [section, node] : root) {
    const std::string section_name(section.str());
    const toml::table* table = node.as_table();
    HYBREC_CHECK(table != nullptr, where, ": '", section_name,
                 "' must be a table ([data], [model], [train], [eval], [ps], [stream] or "
                 "[rerank])");
    for (auto&& [key, value] : *table) {
      const std::string name = section_name + "." + std::string(key.str());
      const Key* k = find_key(keys, name);
      HYBREC_CHECK(k != nullptr, where, ": unknown key '", name, "' at line ",
                   value.source().begin.line);
      k->from_toml(value, where + " line " + std::to_string(value.source().begin.line));
    }
  }
  apply_overrides(keys, overrides);
  // The text dimension comes from the dataset later; check the rest now.
  ModelConfig structure = config.model;
  structure.text_dim = 1;
  validate(structure);
  HYBREC_CHECK(config.rerank.generated_n == 0 || !config.rerank.model.empty(), where,
               ": rerank.model is empty; rerank.generated_n = ", config.rerank.generated_n,
               " needs a decoder (a Llama GGUF file)");
  // The row cache trains rows the server does not see every step: the
  // server's own admission and expiry would drop or reset them under it.
  HYBREC_CHECK(config.train.cache_rows == 0 || (config.ps.admit_after == 0 && config.ps.ttl_s == 0),
               where, ": train.cache_rows = ", config.train.cache_rows,
               " needs ps.admit_after = 0 and ps.ttl_s = 0 (got ", config.ps.admit_after, " and ",
               config.ps.ttl_s, "): the server would drop or expire rows the cache is training");
  return config;
}

TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  HYBREC_CHECK(in.good(), "config ", path, ": cannot read the file (", std::strerror(errno), ")");
  std::ostringstream text;
  text << in.rdbuf();
  HYBREC_CHECK(!in.bad(), "config ", path, ": read failed");
  return parse_config(text.str(), path, overrides);
}

std::string to_toml(const TrainConfig& config) {
  TrainConfig copy = config;
  std::vector<Key> keys = keys_of(copy);
  std::ostringstream out;
  std::string section;
  for (const auto& k : keys) {
    const std::string s = k.name.substr(0, k.name.find('.'));
    if (s != section) {
      out << (section.empty() ? "" : "\n") << "[" << s << "]\n";
      section = s;
    }
    out << k.name.substr(s.size() + 1) << " = " << k.to_text() << "\n";
  }
  return out.str();
}

}  // namespace hybrec::trainer
