// What `hybrec generate`, `hybrec explain` and `hybrec serve
// --explain-model` share about the language model: where it is by default,
// loading it with an error that says how to get it, and the sampling flags.
#pragma once

#include <memory>
#include <string>

#include "launch/flags.h"
#include "trainer/llm/text_generator.h"

namespace hybrec::launch {

// Where scripts/get-smollm2.sh places the model (relative to the repository
// root, where the commands are usually run).
inline constexpr const char* kDefaultLanguageModel = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

// Loads the GGUF file at path; a missing file is an error naming it and
// telling the user to run scripts/get-smollm2.sh (or to pass --model).
std::unique_ptr<llm::TextGenerator> load_language_model(const std::string& path);

// --temperature, --top-k, --top-p, --repetition-penalty, --seed, --threads.
void add_sampling_flags(Flags& flags);
// Their values over `options` (greedy unless --temperature > 0).
void read_sampling_flags(const Flags& flags, llm::GenerateOptions* options);

}  // namespace hybrec::launch
