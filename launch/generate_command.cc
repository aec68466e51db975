// hybrec generate: one prompt through a GGUF language model (SmolLM2 by
// default), the text on stdout and its timing on stderr (or both as JSON).
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/flags.h"
#include "launch/llm_flags.h"

namespace hybrec::launch {

namespace {

constexpr const char* kUsage =
    "hybrec generate --prompt TEXT [--model FILE.gguf] [--chat] [--system TEXT]\n"
    "                [--max-tokens N] [--max-prompt-tokens N] [--stop-at-newline]\n"
    "                [--temperature T --top-k K --top-p P --seed S] [--threads N] [--json]\n"
    "Without --chat the prompt is raw text; with it, one user message in the model's\n"
    "chat template. A prompt longer than the context (or --max-prompt-tokens) loses\n"
    "its oldest tokens, and the output says so.";

}  // namespace

int run_generate(int argc, char** argv) {
  Flags flags("hybrec generate", kUsage);
  flags.add("model", "FILE", std::string("GGUF model (default ") + kDefaultLanguageModel + ")");
  flags.add("prompt", "TEXT", "the prompt (required)");
  flags.add("chat", "", "send the prompt as a user message through the chat template");
  flags.add("system", "TEXT", "with --chat: a system message first");
  flags.add("max-tokens", "N", "new tokens at most (default 64)");
  flags.add("max-prompt-tokens", "N", "cut the prompt to N tokens (default: the context's room)");
  flags.add("stop-at-newline", "", "end at the first newline after some text");
  add_sampling_flags(flags);
  flags.add("json", "", "print the text and the figures as one JSON object");
  flags.add("help", "", "print this help");
  flags.parse(argc, argv, 2);
  if (flags.has("help")) {
    std::cout << flags.help();
    return 0;
  }
  HYBREC_CHECK(flags.positional().empty(), "hybrec generate: unexpected argument '",
               flags.positional().front(), "'");
  const std::string prompt = flags.require("prompt");
  HYBREC_CHECK(flags.has("chat") || !flags.has("system"), "hybrec generate: --system needs --chat");
  llm::GenerateOptions options;
  options.max_tokens = flags.get_int("max-tokens", 64, 1, 1 << 20);
  options.max_prompt_tokens = flags.get_int("max-prompt-tokens", 0, 0, 1 << 20);
  options.stop_at_newline = flags.has("stop-at-newline");
  read_sampling_flags(flags, &options);
  const auto generator = load_language_model(flags.get("model", kDefaultLanguageModel));

  llm::GenerateResult r;
  if (flags.has("chat")) {
    std::vector<text::ChatMessage> messages;
    if (flags.has("system")) messages.push_back({"system", flags.get("system", "")});
    messages.push_back({"user", prompt});
    r = generator->generate_chat(messages, options);
  } else {
    r = generator->generate_text(prompt, options);
  }
  if (flags.has("json")) {
    const nlohmann::ordered_json j = {{"text", r.text},
                                      {"prompt_tokens", r.prompt_tokens},
                                      {"generated_tokens", r.generated_tokens},
                                      {"truncated", r.truncated},
                                      {"dropped_tokens", r.dropped_tokens},
                                      {"stop", r.stop},
                                      {"prefill_s", r.prefill_s},
                                      {"decode_s", r.decode_s}};
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::cout << r.text << "\n";
  std::fprintf(stderr,
               "hybrec generate: prompt %lld tokens in %.3f s, %lld generated in %.3f s, "
               "stop: %s\n",
               static_cast<long long>(r.prompt_tokens), r.prefill_s,
               static_cast<long long>(r.generated_tokens), r.decode_s, r.stop.c_str());
  if (r.truncated) {
    std::fprintf(stderr,
                 "hybrec generate: the prompt was truncated from the left: %lld tokens dropped\n",
                 static_cast<long long>(r.dropped_tokens));
  }
  return 0;
}

}  // namespace hybrec::launch
