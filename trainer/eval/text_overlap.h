// Word-overlap scores of generated text against reference text, as the
// explanation-generation papers report them (PETER and PEPLER, Li et al.;
// their evaluation code takes BLEU from tensorflow/nmt's bleu.py and ROUGE
// from its rouge.py). Every function works on token lists made by
// tokenize_words, so the tokenisation rule is stated once.
//
// Tokenisation: ASCII letters are lower-cased, and a token is a maximal run
// of ASCII letters, ASCII digits and bytes >= 0x80 (so a UTF-8 word stays
// whole); everything else separates tokens and is dropped. "Don't
// miss it!" -> [don, t, miss, it]. PETER's data keeps punctuation as tokens
// ("." and "," count as matched words there); dropping it gives no free
// matches on punctuation, so scores here are, if anything, lower than that
// convention would give on the same text.
#pragma once

#include <string>
#include <vector>

namespace hybrec::trainer {

using Tokens = std::vector<std::string>;

// The tokens of `text` by the rule above.
Tokens tokenize_words(const std::string& text);

// Corpus-level BLEU with n-grams up to `max_order` (1 for BLEU-1, 4 for
// BLEU-4), one reference per hypothesis, times 100, as PETER's bleu_score
// (compute_bleu without smoothing):
//   p_n = sum over pairs of clipped n-gram matches / sum over pairs of
//         max(0, len(hyp) - n + 1)   (0 when that denominator is 0)
//   BLEU = BP * exp(mean_n log p_n), and 0 when any p_n is 0
//   BP = 1 when c > r, else exp(1 - r / c); c = total hypothesis tokens,
//        r = total reference tokens.
// So a hypothesis shorter than n adds no n-gram of that order, and BLEU-4
// of a corpus with no hypothesis of 4 tokens is 0. Where the Python divides
// by zero this returns 0 (c == 0: nothing was generated) or takes BP = 1
// (r == 0 < c). Throws hybrec::Error when the two lists differ in length
// or max_order < 1.
double corpus_bleu(const std::vector<Tokens>& references, const std::vector<Tokens>& hypotheses,
                   int max_order);

// ROUGE F-measures times 100, each the mean over pairs of the pair's score,
// as PETER's rouge_score (rouge.py's rouge()):
//   ROUGE-N (N = 1, 2): the *sets* of distinct n-grams of hypothesis H and
//     reference R; P = |H & R| / |H|, R = |H & R| / |R| (0 when the set is
//     empty), F = 2 P R / (P + R + 1e-8).
//   ROUGE-L: l = longest common subsequence, P = l / len(hyp),
//     R = l / len(ref), and rouge.py's F_lcs with beta = P / (R + 1e-12):
//     F = (1 + beta^2) R P / (R + beta^2 P + 1e-12). This is not the
//     harmonic mean: with beta = P/R it equals (P^2 + R^2) P R / (P^3 + R^3)
//     (P = 2/3, R = 2/5 give 17/38 = 0.447, where F1 is 0.5). Kept, so the
//     numbers compare with the papers'.
// A pair whose hypothesis or reference has no token scores 0 (the Python
// splits "" into one empty word, so two empty strings would score 1 there);
// no pairs at all give 0 (the Python's mean of nothing is NaN).
struct RougeScores {
  double rouge1 = 0;
  double rouge2 = 0;
  double rouge_l = 0;
};
RougeScores mean_rouge(const std::vector<Tokens>& references,
                       const std::vector<Tokens>& hypotheses);

}  // namespace hybrec::trainer
