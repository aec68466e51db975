#include "trainer/eval/text_overlap.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

namespace {

bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

// The n-grams of `tokens` with their counts (order n only).
std::map<Tokens, int64_t> ngram_counts(const Tokens& tokens, size_t n) {
  std::map<Tokens, int64_t> counts;
  for (size_t i = 0; i + n <= tokens.size(); ++i) {
    ++counts[Tokens(tokens.begin() + static_cast<std::ptrdiff_t>(i),
                    tokens.begin() + static_cast<std::ptrdiff_t>(i + n))];
  }
  return counts;
}

std::set<Tokens> ngram_set(const Tokens& tokens, size_t n) {
  std::set<Tokens> set;
  for (const auto& [gram, count] : ngram_counts(tokens, n)) set.insert(gram);
  return set;
}

double rouge_n_f(const Tokens& reference, const Tokens& hypothesis, size_t n) {
  const std::set<Tokens> ref = ngram_set(reference, n);
  const std::set<Tokens> hyp = ngram_set(hypothesis, n);
  if (ref.empty() || hyp.empty()) return 0;
  int64_t overlap = 0;
  for (const Tokens& gram : hyp) overlap += ref.count(gram);
  const double p = static_cast<double>(overlap) / static_cast<double>(hyp.size());
  const double r = static_cast<double>(overlap) / static_cast<double>(ref.size());
  return 2.0 * (p * r / (p + r + 1e-8));
}

size_t lcs_length(const Tokens& a, const Tokens& b) {
  // One row of the dynamic-programming table at a time.
  std::vector<size_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

double rouge_l_f(const Tokens& reference, const Tokens& hypothesis) {
  if (reference.empty() || hypothesis.empty()) return 0;
  const double lcs = static_cast<double>(lcs_length(hypothesis, reference));
  const double r = lcs / static_cast<double>(reference.size());
  const double p = lcs / static_cast<double>(hypothesis.size());
  const double beta = p / (r + 1e-12);
  return (1 + beta * beta) * r * p / (r + beta * beta * p + 1e-12);
}

void check_same_length(size_t references, size_t hypotheses, const char* what) {
  HYBREC_CHECK(references == hypotheses, what, ": ", references, " references but ", hypotheses,
               " hypotheses");
}

}  // namespace

Tokens tokenize_words(const std::string& text) {
  Tokens tokens;
  std::string word;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_word_byte(c)) {
      word += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : ch;
    } else if (!word.empty()) {
      tokens.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) tokens.push_back(std::move(word));
  return tokens;
}

double corpus_bleu(const std::vector<Tokens>& references, const std::vector<Tokens>& hypotheses,
                   int max_order) {
  check_same_length(references.size(), hypotheses.size(), "corpus_bleu");
  HYBREC_CHECK(max_order >= 1, "corpus_bleu: max_order ", max_order, " is below 1");
  const auto orders = static_cast<size_t>(max_order);
  std::vector<int64_t> matches(orders, 0), possible(orders, 0);
  int64_t hyp_length = 0, ref_length = 0;
  for (size_t k = 0; k < hypotheses.size(); ++k) {
    hyp_length += static_cast<int64_t>(hypotheses[k].size());
    ref_length += static_cast<int64_t>(references[k].size());
    for (size_t n = 1; n <= orders; ++n) {
      const auto ref = ngram_counts(references[k], n);
      for (const auto& [gram, count] : ngram_counts(hypotheses[k], n)) {
        const auto it = ref.find(gram);
        if (it != ref.end()) matches[n - 1] += std::min(count, it->second);
      }
      if (hypotheses[k].size() >= n) {
        possible[n - 1] += static_cast<int64_t>(hypotheses[k].size() - n + 1);
      }
    }
  }
  if (hyp_length == 0) return 0;
  double log_sum = 0;
  for (size_t n = 0; n < orders; ++n) {
    if (possible[n] == 0 || matches[n] == 0) return 0;
    log_sum += std::log(static_cast<double>(matches[n]) / static_cast<double>(possible[n]));
  }
  const double brevity =
      hyp_length > ref_length
          ? 1.0
          : std::exp(1.0 - static_cast<double>(ref_length) / static_cast<double>(hyp_length));
  return 100.0 * brevity * std::exp(log_sum / static_cast<double>(orders));
}

RougeScores mean_rouge(const std::vector<Tokens>& references,
                       const std::vector<Tokens>& hypotheses) {
  check_same_length(references.size(), hypotheses.size(), "mean_rouge");
  RougeScores sum;
  if (hypotheses.empty()) return sum;
  for (size_t k = 0; k < hypotheses.size(); ++k) {
    sum.rouge1 += rouge_n_f(references[k], hypotheses[k], 1);
    sum.rouge2 += rouge_n_f(references[k], hypotheses[k], 2);
    sum.rouge_l += rouge_l_f(references[k], hypotheses[k]);
  }
  const double scale = 100.0 / static_cast<double>(hypotheses.size());
  return RougeScores{sum.rouge1 * scale, sum.rouge2 * scale, sum.rouge_l * scale};
}

}  // namespace hybrec::trainer
