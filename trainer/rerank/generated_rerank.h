// The re-rank stage of the generated-text score term: a scorer's top N
// candidates of a case get the seed's fused score
//   z'_ij = (z_ij + lambda * y'_j) / sqrt(1 + lambda^2)
// where z_ij is the scorer's score (for the hybrid model, u_i^T W v_j plus
// its text score, HybridModel::score_items) and y'_j the generated term
// (title_likelihood.h); every other item keeps its order, below all N. The
// term is computed for those N only: a decoder forward per candidate is
// far too costly for a catalogue.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/eval/ranking.h"
#include "trainer/rerank/title_likelihood.h"

namespace hybrec::trainer {

// (z + lambda * y) / sqrt(1 + lambda^2).
double fuse_generated_term(double z, double y, double lambda);

// The n best items of scores[0, num_items) by score, ties by lower id, among
// those not in `excluded` (sorted ids) and, when `only` is given
// ([num_items]), with only[j] != 0; best first.
std::vector<int64_t> top_candidates(const float* scores, int64_t num_items, int64_t n,
                                    const std::vector<int64_t>& excluded,
                                    const std::vector<uint8_t>* only);

// Re-ranks one case's row in place: scores[candidates[i]] becomes
// fuse_generated_term(scores[candidates[i]], y[i], lambda), and every other
// item is shifted down by one constant, so the others keep their order and
// those that scored no higher than the lowest candidate (every eligible
// one, when the candidates are its top N) end strictly below every
// candidate. NaN stays NaN.
void rerank_row(float* scores, int64_t num_items, const std::vector<int64_t>& candidates,
                const std::vector<double>& y, double lambda);

// A scorer whose rows are `base`'s re-ranked with `term` over each case's
// top n candidates (its excluded items left out, and items with only[j] ==
// 0 when `only` is given: the cold items for the cold subset). lambda == 0
// returns base's scores untouched and computes no term.
class GeneratedTermScorer : public Scorer {
 public:
  GeneratedTermScorer(Scorer& base, GeneratedTerm& term, int64_t num_items, int64_t n,
                      double lambda, const std::vector<uint8_t>* only = nullptr);
  void set_lambda(double lambda) { lambda_ = lambda; }
  double lambda() const { return lambda_; }
  void score(const EvalCase* cases, int64_t n, float* scores) override;

 private:
  Scorer& base_;
  GeneratedTerm& term_;
  int64_t num_items_;
  int64_t n_;
  double lambda_;
  const std::vector<uint8_t>* only_;
};

}  // namespace hybrec::trainer
