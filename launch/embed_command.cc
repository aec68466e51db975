// hybrec embed: text embeddings from a BERT-family sentence encoder (e.g.
// all-MiniLM-L6-v2, scripts/get-minilm.sh), computed by hybrec's own kernels.
//   --data FILE   embeds the dataset's item (or user) texts and replaces
//                 /items/text_emb (/users/text_emb) atomically: the trainer
//                 then uses them in place of the hashing encoder's;
//   --text "..."  prints one vector as a JSON array, for scripts.
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/flags.h"
#include "trainer/data/dataset.h"
#include "trainer/text/bert_encoder.h"

namespace hybrec::launch {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "hybrec embed --model DIR --data FILE [--field items|users] [--batch N] [--threads T]\n"
    "             [--device cpu|cuda]\n"
    "hybrec embed --model DIR --text \"...\" [--threads T] [--device cpu|cuda]";

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// "texts 1200/9742  850 texts/s  ETA 0m10s": rewritten in place on a
// terminal, a plain line every 10 s otherwise (logs).
class EmbedProgress {
 public:
  explicit EmbedProgress(int64_t total) : total_(total), tty_(::isatty(STDERR_FILENO) != 0) {}
  void operator()(int64_t done, int64_t) {
    const double s = seconds_since(start_);
    if (!tty_ && done < total_ && s - last_ < 10.0) return;
    last_ = s;
    const double rate = s > 0 ? static_cast<double>(done) / s : 0.0;
    const auto eta = static_cast<int64_t>(rate > 0 ? static_cast<double>(total_ - done) / rate : 0);
    std::fprintf(stderr, "%stexts %lld/%lld  %.0f texts/s  ETA %lldm%02llds%s", tty_ ? "\r" : "",
                 static_cast<long long>(done), static_cast<long long>(total_), rate,
                 static_cast<long long>(eta / 60), static_cast<long long>(eta % 60),
                 tty_ && done < total_ ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  int64_t total_;
  bool tty_;
  Clock::time_point start_ = Clock::now();
  double last_ = -1e9;
};

int embed_dataset(const text::BertEncoder& encoder, const std::string& path,
                  const std::string& field, int64_t batch) {
  trainer::Dataset d = trainer::read_dataset(path);
  const std::vector<std::string>& texts = field == "items" ? d.item_text : d.user_text;
  HYBREC_CHECK(!texts.empty() || field == "items", "dataset ", path,
               " has no /users/text to embed (--field users)");
  // Rows without text stay zero (the schema's "no text").
  std::vector<std::string> present;
  std::vector<int64_t> rows;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty()) continue;
    present.push_back(texts[i]);
    rows.push_back(static_cast<int64_t>(i));
  }
  const int64_t dim = encoder.dim();
  std::fprintf(stderr, "hybrec embed: %zu of %zu %s texts with %s (%lld dims, %s pooling%s)\n",
               present.size(), texts.size(), field == "items" ? "item" : "user",
               encoder.config().dir.c_str(), static_cast<long long>(dim),
               text::pooling_name(encoder.config().pooling),
               encoder.config().normalize ? ", L2-normalised" : "");
  const auto t0 = Clock::now();
  std::vector<float> vectors(present.size() * static_cast<std::size_t>(dim));
  EmbedProgress progress(static_cast<int64_t>(present.size()));
  encoder.encode(present, batch, vectors.data(), std::ref(progress));
  const double seconds = seconds_since(t0);
  std::vector<float> table(texts.size() * static_cast<std::size_t>(dim), 0.0f);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::copy_n(vectors.data() + i * dim, dim, table.data() + rows[i] * dim);
  }
  const std::string name = std::filesystem::path(encoder.config().dir).filename().string();
  trainer::set_text_embeddings(
      d, field == "items" ? trainer::TextField::kItems : trainer::TextField::kUsers, dim,
      std::move(table), name);
  trainer::write_dataset(d, path);  // through a temporary name, then a rename
  std::printf(
      "embedded %zu %s texts in %.1f s (%.0f texts/s); wrote /%s/text_emb [%zu, %lld] "
      "(encoder \"%s\") to %s\n",
      present.size(), field == "items" ? "item" : "user", seconds,
      seconds > 0 ? static_cast<double>(present.size()) / seconds : 0.0, field.c_str(),
      texts.size(), static_cast<long long>(dim), name.c_str(), path.c_str());
  return 0;
}

}  // namespace

int run_embed(int argc, char** argv) {
  Flags flags("hybrec embed", kUsage);
  flags.add("model", "DIR", "Hugging Face BERT directory (models/all-MiniLM-L6-v2)");
  flags.add("data", "FILE", "dataset whose texts to embed (rewritten atomically)");
  flags.add("field", "F", "items (default) or users");
  flags.add("text", "TEXT", "embed this text and print its vector as a JSON array");
  flags.add("batch", "N", "texts per batch (default 64)");
  flags.add("threads", "T", "compute threads (default: every core)");
  flags.add("device", "D",
            "cpu (default) or cuda (the encoder's CUDA path is compiled, not yet run on a GPU)");
  flags.add("help", "", "print this help");
  flags.parse(argc, argv, 2);
  if (flags.has("help")) {
    std::cout << flags.help();
    return 0;
  }
  HYBREC_CHECK(flags.positional().empty(), "hybrec embed: unexpected argument '",
               flags.positional().front(), "'");
  HYBREC_CHECK(flags.has("model"), "hybrec embed: --model DIR is required");
  HYBREC_CHECK(flags.has("data") != flags.has("text"),
               "hybrec embed: give exactly one of --data FILE and --text TEXT");
  const std::string field = flags.get("field", "items");
  HYBREC_CHECK(field == "items" || field == "users", "hybrec embed: --field '", field,
               "' is not items or users");
  HYBREC_CHECK(flags.has("data") || !flags.has("field"), "hybrec embed: --field needs --data");
  const int64_t batch = flags.get_int("batch", 64, 1, 1 << 16);
  const auto cores = static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(static_cast<int>(flags.get_int("threads", cores, 1, 1024)));

  const std::string device = flags.get("device", "cpu");
  HYBREC_CHECK(device == "cpu" || device == "cuda", "hybrec embed: --device '", device,
               "' is not cpu or cuda");
  const text::BertEncoder encoder(
      flags.require("model"), device == "cuda" ? kernels::Device::cuda() : kernels::Device::cpu());
  if (flags.has("data")) return embed_dataset(encoder, flags.require("data"), field, batch);
  const std::vector<float> v = encoder.encode_one(flags.require("text"));
  std::string line = "[";
  char buf[32];
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.9g", i ? ", " : "", static_cast<double>(v[i]));
    line += buf;
  }
  std::cout << line << "]\n";
  return 0;
}

}  // namespace hybrec::launch
