#include "trainer/rerank/title_likelihood.h"

#include <algorithm>
#include <chrono>

#include "hybrec/kernels/error.h"
#include "trainer/llm/continuation_score.h"
#include "trainer/rerank/history_prompt.h"

namespace hybrec::trainer {

TitleLikelihood::TitleLikelihood(const llm::LlamaModel& model, const text::BpeTokenizer& tokenizer,
                                 const std::vector<std::string>& item_text,
                                 const TitleLikelihoodOptions& options)
    : tokenizer_(tokenizer), options_(options), session_(model) {
  HYBREC_CHECK(options.history_titles >= 0, "TitleLikelihood: history_titles must be >= 0, got ",
               options.history_titles);
  HYBREC_CHECK(options.title_tokens >= 1, "TitleLikelihood: title_tokens must be >= 1, got ",
               options.title_tokens);
  titles_.reserve(item_text.size());
  // A title is cut to its first title_tokens tokens, in the prompt as in the
  // continuation, so both stay bounded whatever the catalogue holds.
  for (const std::string& text : item_text) {
    const std::string title = item_title(text);
    std::vector<int32_t> ids = tokenizer.encode(" " + title, /*parse_special=*/false);
    if (static_cast<int64_t>(ids.size()) <= options.title_tokens) {
      titles_.push_back(title);
    } else {
      ids.resize(static_cast<std::size_t>(options.title_tokens));
      titles_.push_back(item_title(tokenizer.decode(ids)));
    }
  }
}

std::string TitleLikelihood::prompt_of(const std::vector<int64_t>& history) const {
  std::vector<std::string> titles;
  for (auto it = history.rbegin();
       it != history.rend() && static_cast<int64_t>(titles.size()) < options_.history_titles;
       ++it) {
    if (*it < 0) continue;
    HYBREC_CHECK(*it < static_cast<int64_t>(titles_.size()), "TitleLikelihood: history item ", *it,
                 " out of range [0, ", titles_.size(), ")");
    const std::string& t = titles_[static_cast<std::size_t>(*it)];
    if (!t.empty()) titles.push_back(t);
  }
  return history_prompt(titles);
}

const std::vector<int32_t>& TitleLikelihood::continuation(int64_t item) {
  HYBREC_CHECK(item >= 0 && item < static_cast<int64_t>(titles_.size()),
               "TitleLikelihood: candidate item ", item, " out of range [0, ", titles_.size(), ")");
  auto it = continuations_.find(item);
  if (it == continuations_.end()) {
    std::vector<int32_t> ids = tokenizer_.encode(
        title_continuation(titles_[static_cast<std::size_t>(item)]), /*parse_special=*/false);
    it = continuations_.emplace(item, std::move(ids)).first;
  }
  return it->second;
}

std::vector<double> TitleLikelihood::score(const EvalCase& c,
                                           const std::vector<int64_t>& candidates) {
  std::vector<int64_t> history = c.history;
  std::string prompt = prompt_of(history);
  auto& cached = cache_[prompt];
  std::vector<int64_t> missing;
  std::vector<std::vector<int32_t>> tokens;
  int64_t longest = 0;
  for (int64_t j : candidates) {
    if (cached.count(j) != 0 || std::find(missing.begin(), missing.end(), j) != missing.end()) {
      ++stats_.cached;
      continue;
    }
    missing.push_back(j);
    tokens.push_back(continuation(j));
    longest = std::max(longest, static_cast<int64_t>(tokens.back().size()));
  }
  if (!missing.empty()) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<int32_t> prefix = tokenizer_.encode(prompt, /*parse_special=*/false);
    // Too long for the context: the oldest titles go first (the cache key
    // stays the full prompt, which names the case).
    bool shortened = false;
    while (static_cast<int64_t>(prefix.size()) + longest - 1 > session_.max_len()) {
      const auto first =
          std::find_if(history.begin(), history.end(), [](int64_t j) { return j >= 0; });
      HYBREC_CHECK(first != history.end(), "TitleLikelihood: a prompt without titles (",
                   prefix.size(), " tokens) and a title of ", longest,
                   " tokens exceed the decoder's context of ", session_.max_len(), " tokens");
      *first = -1;
      prefix = tokenizer_.encode(prompt_of(history), /*parse_special=*/false);
      shortened = true;
    }
    const auto scores = llm::score_continuations(session_, prefix, tokens);
    for (std::size_t i = 0; i < missing.size(); ++i) {
      cached[missing[i]] = scores[i].mean();
      stats_.candidate_tokens += scores[i].tokens;
    }
    stats_.prompts += 1;
    stats_.short_prompts += shortened ? 1 : 0;
    stats_.candidates += static_cast<int64_t>(missing.size());
    stats_.prompt_tokens += static_cast<int64_t>(prefix.size());
    stats_.seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  std::vector<double> out;
  out.reserve(candidates.size());
  for (int64_t j : candidates) out.push_back(cached.at(j));
  return out;
}

Decoder load_decoder(const std::string& gguf_path) {
  Decoder d;
  d.file = std::make_unique<text::GgufFile>(gguf_path);
  d.model = std::make_unique<llm::LlamaModel>(*d.file);
  d.tokenizer = std::make_unique<text::BpeTokenizer>(text::BpeTokenizer::from_gguf(*d.file));
  return d;
}

}  // namespace hybrec::trainer
