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
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/flags.h"
#include "trainer/pipelines/embed_dataset.h"
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
  const char* noun = field == "items" ? "item" : "user";
  EmbedProgress progress(0);
  const trainer::EmbedReport r = trainer::embed_dataset(
      encoder, path, field == "items" ? trainer::TextField::kItems : trainer::TextField::kUsers,
      batch,
      [&](const trainer::EmbedReport& start) {
        std::fprintf(stderr,
                     "hybrec embed: %lld of %lld %s texts with %s (%lld dims, %s pooling%s)\n",
                     static_cast<long long>(start.embedded), static_cast<long long>(start.texts),
                     noun, encoder.config().dir.c_str(), static_cast<long long>(start.dim),
                     text::pooling_name(encoder.config().pooling),
                     encoder.config().normalize ? ", L2-normalised" : "");
        progress = EmbedProgress(start.embedded);
      },
      std::ref(progress));
  std::printf(
      "embedded %lld %s texts in %.1f s (%.0f texts/s); wrote /%s/text_emb [%lld, %lld] "
      "(encoder \"%s\") to %s\n",
      static_cast<long long>(r.embedded), noun, r.seconds,
      r.seconds > 0 ? static_cast<double>(r.embedded) / r.seconds : 0.0, field.c_str(),
      static_cast<long long>(r.texts), static_cast<long long>(r.dim), r.encoder.c_str(),
      path.c_str());
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
