// The text an explanation of (user, item) is scored against, and the
// feature it is expected to name, from a dataset file (dataset.h), in the
// dataset's dense id space.
//
// Two sources, chosen by what the dataset holds:
//   kPairText  the text the user wrote about the item: /pair_text, which the
//              MovieLens importer fills with each user's own tags
//              (movielens.h). The reference of (u, i) is u's tags on i in
//              the order they were applied, joined by ", "; its feature is
//              the first of those tags that has a token (a phrase: "dark
//              comedy"). Truly held out only if the prompt is built from
//              item_text_without_user_tags: the importer also folds every
//              tag into the item's text, which the prompt shows.
//   kItemText  the item's own text, for datasets without pair text
//              (amazon-office: no review text is in the files). The same
//              reference for every user, and the prompt shows it: this is
//              a weak reference, measuring how faithfully an explanation
//              restates the item's description, not how well it predicts
//              text the model never saw. Its feature is item_feature_word.
// Pairs and items whose reference has no token get no reference.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/eval/text_overlap.h"

namespace hybrec::trainer {

struct UserItem {
  int64_t user = 0;
  int64_t item = 0;
};

struct ExplanationReference {
  std::string text;  // what the explanation is compared with
  Tokens feature;    // the feature it should name; empty when there is none
};

enum class ReferenceKind { kPairText, kItemText };

// "pair_text" or "item_text".
const char* reference_kind_name(ReferenceKind kind);

struct ExplanationReferences {
  ReferenceKind kind = ReferenceKind::kPairText;
  std::map<std::pair<int64_t, int64_t>, ExplanationReference> by_pair;  // kPairText
  std::vector<ExplanationReference> by_item;  // kItemText: [num_items], "" = none
  // Every feature of every reference (PETER's FCR divides by the whole
  // dataset's features, not only those of the pairs evaluated).
  std::set<Tokens> feature_set;

  // The reference of (user, item), or nullptr when it has none.
  const ExplanationReference* find(int64_t user, int64_t item) const;
};

// From /pair_text. Throws hybrec::Error naming the dataset when it has none.
ExplanationReferences pair_text_references(const Dataset& dataset);

// From /items/text, every item with a token.
ExplanationReferences item_text_references(const Dataset& dataset);

// pair_text_references when the dataset has pair text, else
// item_text_references.
ExplanationReferences explanation_references(const Dataset& dataset);

// The feature of an item text, for kItemText references. Candidates are the
// text's tokens of 3 or more ASCII letters only, neither an English
// function word nor a measure or packaging word (inch, pack, per, ...),
// nor the text's first or last token (Amazon office texts begin and end with
// the brand: "HP 78 Tri-Color Printer Cartridge ... Laser Printer Toner HP").
// The winner is the candidate that occurs most often in the text (a
// product's kind tends to be in its title and its category: "Scotch Desk
// Tape Dispenser ... Office Tape Dispensers Scotch" -> "tape"); ties go to the
// candidate in more of the catalogue's item texts (`document_frequency`:
// token -> number of item texts holding it), then to the earlier one.
// Empty when there is no candidate.
Tokens item_feature_word(const Tokens& text,
                         const std::map<std::string, int64_t>& document_frequency);

// The (user, item) of each event of `split`, in dataset order.
std::vector<UserItem> split_pairs(const Dataset& dataset, Split split);

// Every pair with a kPairText reference, ascending (user, then item): more
// to score than one split holds (ml-latest-small: 1775 tagged pairs, 10 of
// them test events). Empty for kItemText references, which any user has
// for every item with text: take split_pairs there.
std::vector<UserItem> reference_pairs(const ExplanationReferences& references);

}  // namespace hybrec::trainer
