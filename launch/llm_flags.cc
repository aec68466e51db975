#include "launch/llm_flags.h"

#include <filesystem>

#include "hybrec/kernels/error.h"

namespace hybrec::launch {

std::unique_ptr<llm::TextGenerator> load_language_model(const std::string& path) {
  HYBREC_CHECK(std::filesystem::is_regular_file(path), "no language model at ", path,
               ": run scripts/get-smollm2.sh (it places SmolLM2-135M-Instruct in models/), or "
               "pass --model FILE.gguf");
  return std::make_unique<llm::TextGenerator>(path);
}

void add_sampling_flags(Flags& flags) {
  flags.add("temperature", "T", "sampling temperature (default 0: greedy)");
  flags.add("top-k", "K", "sample among the K likeliest tokens (default 0: all)");
  flags.add("top-p", "P", "sample within the smallest set of mass P (default 1: all)");
  flags.add("repetition-penalty", "R", "divide the logits of seen tokens by R (default 1: off)");
  flags.add("seed", "S", "sampling seed (default 0): the same seed, the same text");
  flags.add("threads", "N", "compute threads (default: OpenMP's, OMP_NUM_THREADS)");
}

void read_sampling_flags(const Flags& flags, llm::GenerateOptions* o) {
  o->sampling.temperature = static_cast<float>(flags.get_double("temperature", 0, 0, 100));
  o->sampling.top_k = flags.get_int("top-k", 0, 0, 1 << 30);
  o->sampling.top_p = static_cast<float>(flags.get_double("top-p", 1, 1e-6, 1));
  o->sampling.repetition_penalty =
      static_cast<float>(flags.get_double("repetition-penalty", 1, 1e-3, 100));
  o->sampling.seed = static_cast<uint64_t>(flags.get_int("seed", 0, 0, INT64_MAX));
  o->threads = static_cast<int>(flags.get_int("threads", 0, 0, 1024));
}

}  // namespace hybrec::launch
