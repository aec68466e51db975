// y'_j of the seed's fused score z'_ij = (z_ij + lambda y'_j) / sqrt(1 +
// lambda^2): the decoder's length-normalised log-likelihood (mean natural-log
// probability per token) of item j's title, given a prompt built from user
// i's history (history_prompt.h), from SmolLM2-135M-Instruct or any Llama
// GGUF with a byte-level BPE vocabulary.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "trainer/eval/eval_cases.h"
#include "trainer/llm/llama_model.h"
#include "trainer/text/bpe_tokenizer.h"
#include "trainer/text/gguf.h"

namespace hybrec::trainer {

// Where a re-rank gets the term from (a fake in tests).
class GeneratedTerm {
 public:
  virtual ~GeneratedTerm() = default;
  // y' of each of `candidates` (item ids) for the user and history of `c`.
  virtual std::vector<double> score(const EvalCase& c, const std::vector<int64_t>& candidates) = 0;
};

struct TitleLikelihoodOptions {
  int64_t history_titles = 10;  // the user's most recent titles in the prompt
  int64_t title_tokens = 24;    // a candidate's continuation is cut to this many tokens
};

// What the decoder did, for the cost per request.
struct TitleLikelihoodStats {
  int64_t prompts = 0;           // prefills (cases with a candidate not yet cached)
  int64_t candidates = 0;        // continuations scored by the decoder
  int64_t cached = 0;            // candidates answered from the cache
  int64_t prompt_tokens = 0;     // tokens prefilled
  int64_t candidate_tokens = 0;  // tokens of the scored continuations
  int64_t short_prompts = 0;     // prompts that dropped their oldest titles to fit the context
  double seconds = 0.0;          // wall time inside the decoder
};

class TitleLikelihood : public GeneratedTerm {
 public:
  // `model` and `tokenizer` must outlive this; `item_text` is copied (titles
  // via item_title). The history of a case is read newest last, -1 = none.
  TitleLikelihood(const llm::LlamaModel& model, const text::BpeTokenizer& tokenizer,
                  const std::vector<std::string>& item_text, const TitleLikelihoodOptions& options);

  // Scores are cached per (prompt, item), so re-ranking the same cases again
  // (another lambda) costs no decoding.
  std::vector<double> score(const EvalCase& c, const std::vector<int64_t>& candidates) override;

  // The prompt text of a history (item ids, oldest first, -1 = none): its
  // last `history_titles` items with a title, newest first.
  std::string prompt_of(const std::vector<int64_t>& history) const;

  const TitleLikelihoodStats& stats() const { return stats_; }

 private:
  const std::vector<int32_t>& continuation(int64_t item);

  const text::BpeTokenizer& tokenizer_;
  TitleLikelihoodOptions options_;
  std::vector<std::string> titles_;
  llm::LlamaSession session_;
  std::unordered_map<int64_t, std::vector<int32_t>> continuations_;  // item -> tokens
  std::unordered_map<std::string, std::unordered_map<int64_t, double>>
      cache_;  // prompt -> item -> y'
  TitleLikelihoodStats stats_;
};

// A decoder read from a GGUF file: the mapped file, the model and its
// tokenizer (errors name the file).
struct Decoder {
  std::unique_ptr<text::GgufFile> file;
  std::unique_ptr<llm::LlamaModel> model;
  std::unique_ptr<text::BpeTokenizer> tokenizer;
};
Decoder load_decoder(const std::string& gguf_path);

}  // namespace hybrec::trainer
