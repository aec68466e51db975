#include "trainer/llm/text_generator.h"

#include <omp.h>

#include <algorithm>
#include <chrono>

#include "hybrec/kernels/error.h"

namespace hybrec::llm {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// omp_set_num_threads for the calling thread only, for one call.
class ThreadCount {
 public:
  explicit ThreadCount(int threads) : saved_(omp_get_max_threads()), set_(threads > 0) {
    if (set_) omp_set_num_threads(threads);
  }
  ~ThreadCount() {
    if (set_) omp_set_num_threads(saved_);
  }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int saved_;
  bool set_;
};

bool has_text(const std::string& bytes) {
  return bytes.find_first_not_of(" \t\r\n") != std::string::npos;
}

}  // namespace

PromptCut cut_prompt(const std::vector<int32_t>& head, const std::vector<int32_t>& body,
                     const std::vector<int32_t>& tail, int64_t budget) {
  HYBREC_CHECK(budget >= 1, "prompt budget ", budget,
               " leaves no room for a prompt (max_tokens takes the whole context?)");
  PromptCut cut;
  const auto total = static_cast<int64_t>(head.size() + body.size() + tail.size());
  const auto frame = static_cast<int64_t>(head.size() + tail.size());
  if (total <= budget) {
    cut.tokens = head;
    cut.tokens.insert(cut.tokens.end(), body.begin(), body.end());
  } else if (frame < budget) {
    const int64_t keep = budget - frame;
    cut.tokens = head;
    cut.tokens.insert(cut.tokens.end(), body.end() - keep, body.end());
  } else {
    std::vector<int32_t> all = head;
    all.insert(all.end(), body.begin(), body.end());
    all.insert(all.end(), tail.begin(), tail.end());
    cut.tokens.assign(all.end() - budget, all.end());
    cut.truncated = true;
    cut.dropped = total - budget;
    return cut;
  }
  cut.tokens.insert(cut.tokens.end(), tail.begin(), tail.end());
  cut.dropped = total - static_cast<int64_t>(cut.tokens.size());
  cut.truncated = cut.dropped > 0;
  return cut;
}

TextGenerator::TextGenerator(const std::string& gguf_path)
    : path_(gguf_path),
      file_(gguf_path),
      model_(file_),
      tokenizer_(text::BpeTokenizer::from_gguf(file_)) {
  HYBREC_CHECK(tokenizer_.vocab_size() == model_.config().vocab, gguf_path, ": the tokenizer has ",
               tokenizer_.vocab_size(), " tokens, the model's embedding ", model_.config().vocab,
               " rows");
  im_end_ = tokenizer_.find_token("<|im_end|>");
  has_newline_.resize(static_cast<std::size_t>(tokenizer_.vocab_size()));
  for (int32_t id = 0; id < tokenizer_.vocab_size(); ++id) {
    has_newline_[static_cast<std::size_t>(id)] =
        tokenizer_.token_bytes(id).find('\n') != std::string::npos;
  }
}

int64_t TextGenerator::budget(const GenerateOptions& options) const {
  const int64_t context = model_.config().context_length;
  HYBREC_CHECK(options.max_tokens >= 1 && options.max_tokens < context,
               "max_tokens = ", options.max_tokens, " must be in [1, ", context,
               ") (the model's context length)");
  HYBREC_CHECK(options.max_prompt_tokens >= 0, "max_prompt_tokens = ", options.max_prompt_tokens,
               " must not be negative (0: the context's room)");
  int64_t room = context - options.max_tokens;
  if (options.max_prompt_tokens > 0) room = std::min(room, options.max_prompt_tokens);
  return room;
}

PromptCut TextGenerator::chat_tokens(const std::vector<text::ChatMessage>& messages,
                                     const GenerateOptions& options) const {
  HYBREC_CHECK(!messages.empty(), "generate_chat: no messages");
  const std::string full = tokenizer_.chat_prompt(messages, true) + options.response_prefix;
  const int64_t room = budget(options);
  std::vector<int32_t> ids = tokenizer_.encode(full);
  if (static_cast<int64_t>(ids.size()) <= room) return cut_prompt({}, ids, {}, room);
  // chat_prompt ends "<|im_start|>role\n" + content + this (bpe_tokenizer.h).
  const std::string tail = "<|im_end|>\n<|im_start|>assistant\n" + options.response_prefix;
  const std::string& content = messages.back().content;
  HYBREC_CHECK(
      full.size() >= content.size() + tail.size() &&
          full.compare(full.size() - tail.size() - content.size(), content.size(), content) == 0,
      "generate_chat: the chat template did not end with the last message");
  const std::string head = full.substr(0, full.size() - tail.size() - content.size());
  return cut_prompt(tokenizer_.encode(head), tokenizer_.encode(content), tokenizer_.encode(tail),
                    room);
}

GenerateResult TextGenerator::generate_chat(const std::vector<text::ChatMessage>& messages,
                                            const GenerateOptions& options) const {
  return run(chat_tokens(messages, options), options);
}

GenerateResult TextGenerator::generate_text(const std::string& prompt,
                                            const GenerateOptions& options) const {
  std::vector<int32_t> ids = tokenizer_.encode(prompt);
  HYBREC_CHECK(!ids.empty(), "generate_text: the prompt has no tokens");
  return run(cut_prompt({}, ids, {}, budget(options)), options);
}

GenerateResult TextGenerator::run(PromptCut prompt, const GenerateOptions& options) const {
  const ThreadCount threads(options.threads);
  SamplerConfig config = options.sampling;
  config.max_new_tokens = options.max_tokens;
  Sampler sampler(config);
  const std::vector<int32_t>& extra = config.stop_tokens;

  GenerateResult r;
  r.prompt_tokens = static_cast<int64_t>(prompt.tokens.size());
  r.truncated = prompt.truncated;
  r.dropped_tokens = prompt.dropped;
  LlamaSession session(model_, r.prompt_tokens + options.max_tokens);
  auto start = std::chrono::steady_clock::now();
  if (options.reuse_prompt_prefix) {
    std::lock_guard<std::mutex> lock(prefix_mutex_);
    // At least the last token is run: its logits start the decode.
    const std::size_t limit = std::min(prefix_tokens_.size(), prompt.tokens.size() - 1);
    const auto shared = static_cast<int64_t>(
        std::mismatch(prompt.tokens.begin(), prompt.tokens.begin() + limit, prefix_tokens_.begin())
            .first -
        prompt.tokens.begin());
    if (shared > 0) session.copy_prefix_from(*prefix_session_, shared);
    r.reused_prompt_tokens = shared;
  }
  std::vector<float> logits =
      r.reused_prompt_tokens > 0
          ? session.extend(std::vector<int32_t>(prompt.tokens.begin() + r.reused_prompt_tokens,
                                                prompt.tokens.end()))
          : session.prefill(prompt.tokens);
  if (options.reuse_prompt_prefix) {
    auto kept = std::make_unique<LlamaSession>(model_, r.prompt_tokens);
    kept->copy_prefix_from(session, r.prompt_tokens);
    std::lock_guard<std::mutex> lock(prefix_mutex_);
    prefix_session_ = std::move(kept);
    prefix_tokens_ = prompt.tokens;
  }
  r.prefill_s = seconds_since(start);  // the cache's copies included

  start = std::chrono::steady_clock::now();
  std::vector<int32_t> history = std::move(prompt.tokens);
  std::string bytes;
  for (int64_t i = 0; i < options.max_tokens; ++i) {
    const int32_t token = sampler.sample(logits, history);
    ++r.generated_tokens;
    history.push_back(token);
    if (token == tokenizer_.eos_id() && !options.ignore_eos) {
      r.stop = "eos";
      break;
    }
    if (token == im_end_ && !options.ignore_eos) {
      r.stop = "im_end";
      break;
    }
    if (std::find(extra.begin(), extra.end(), token) != extra.end()) {
      r.stop = "stop_token";
      break;
    }
    const std::string piece = tokenizer_.token_bytes(token);
    if (options.stop_at_newline && has_newline_[static_cast<std::size_t>(token)]) {
      const std::string before = piece.substr(0, piece.find('\n'));
      if (has_text(bytes + before)) {
        bytes += before;
        r.stop = "newline";
        break;
      }
    }
    bytes += piece;
    if (i + 1 < options.max_tokens) logits = session.step(token);
  }
  r.decode_s = seconds_since(start);
  r.text = text::valid_utf8(bytes);
  return r;
}

}  // namespace hybrec::llm
