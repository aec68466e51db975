// References from a dataset's pair text (MovieLens tags) or item text
// (amazon-office), and the item-text feature rule.
#include "trainer/eval/explanation_references.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {
namespace {

Tokens t(const std::string& text) { return tokenize_words(text); }

Dataset tagged() {
  Dataset d;
  d.name = "tagged";
  d.num_users = 2;
  d.num_items = 3;
  d.item_text = {"a", "Toy Story (1995) | Animation | Dark Comedy, funny, pixar", "b"};
  d.pair_text_user = {0, 1, 0, 1};
  d.pair_text_item = {1, 1, 1, 2};
  d.pair_text = {"Dark Comedy", "!!", "funny", "pixar"};
  return d;
}

TEST(PairTextReferences, JoinsAUsersPiecesAndTakesTheFirstAsFeature) {
  const ExplanationReferences refs = pair_text_references(tagged());
  EXPECT_EQ(refs.kind, ReferenceKind::kPairText);
  const ExplanationReference* a = refs.find(0, 1);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->text, "Dark Comedy, funny");
  EXPECT_EQ(a->feature, t("dark comedy"));
  // User 1's only piece on item 1 has no token: no reference.
  EXPECT_EQ(refs.find(1, 1), nullptr);
  ASSERT_NE(refs.find(1, 2), nullptr);
  EXPECT_EQ(refs.find(1, 2)->text, "pixar");
  // No pair text for (0, 2), and the item's text is no stand-in for it.
  EXPECT_EQ(refs.find(0, 2), nullptr);
  EXPECT_EQ(refs.feature_set, (std::set<Tokens>{t("dark comedy"), t("pixar")}));
  EXPECT_EQ(explanation_references(tagged()).kind, ReferenceKind::kPairText);
  const std::vector<UserItem> pairs = reference_pairs(refs);
  ASSERT_EQ(pairs.size(), 2u);  // (0, 1) and (1, 2); (1, 1) has none
  EXPECT_EQ(pairs[0].user, 0);
  EXPECT_EQ(pairs[0].item, 1);
  EXPECT_EQ(pairs[1].user, 1);
  EXPECT_EQ(pairs[1].item, 2);
}

TEST(PairTextReferences, ADatasetWithoutPairTextIsNamed) {
  Dataset d = tagged();
  d.pair_text_user.clear();
  d.pair_text_item.clear();
  d.pair_text.clear();
  try {
    pair_text_references(d);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dataset 'tagged' has no /pair_text"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(explanation_references(d).kind, ReferenceKind::kItemText);
}

TEST(ItemFeatureWord, PrefersTheMostRepeatedContentWordNotTheBrand) {
  // "scotch" is the first and last word (the brand); "tape" is there twice,
  // every other candidate once.
  EXPECT_EQ(
      item_feature_word(t("Scotch Desk Tape Dispenser, Black Office Tape Dispensers Scotch"), {}),
      t("tape"));
  // printer, cartridge and toner once each: the one in most catalogue texts.
  const std::map<std::string, int64_t> df = {{"printer", 5}, {"cartridge", 3}, {"toner", 5}};
  EXPECT_EQ(item_feature_word(t("HP 78 Printer Cartridge Toner HP"), df), t("printer"));
  // Equal counts and frequencies: the earlier.
  EXPECT_EQ(item_feature_word(t("Acme stapler binder Acme"), {}), t("stapler"));
}

TEST(ItemFeatureWord, SkipsShortNumericMeasureAndFunctionWords) {
  // pack, inches, with, the: listed; x2: a digit; pen: kept (3 letters).
  EXPECT_EQ(item_feature_word(t("Bic x2 pack with the inches pen Bic"), {}), t("pen"));
  EXPECT_EQ(item_feature_word(t("Bic ab 12 pack inches Bic"), {}), Tokens{});
  EXPECT_EQ(item_feature_word(t("Stapler"), {}), Tokens{});
  EXPECT_EQ(item_feature_word(Tokens{}, {}), Tokens{});
}

TEST(ItemTextReferences, EveryUserGetsTheItemsTextAndItsFeature) {
  Dataset d;
  d.name = "office";
  d.num_users = 1;
  d.num_items = 4;
  // Catalogue frequencies: "printer" is in items 0 and 1, "cartridge" in 0.
  d.item_text = {"HP Printer Cartridge HP", "Acme Printer Stand Acme", "", "!!"};
  const ExplanationReferences refs = item_text_references(d);
  EXPECT_EQ(refs.kind, ReferenceKind::kItemText);
  ASSERT_NE(refs.find(0, 0), nullptr);
  EXPECT_EQ(refs.find(0, 0)->text, "HP Printer Cartridge HP");
  EXPECT_EQ(refs.find(0, 0)->feature, t("printer"));
  EXPECT_EQ(refs.find(7, 0), refs.find(0, 0));  // the same for any user
  EXPECT_EQ(refs.find(0, 2), nullptr);          // no text
  EXPECT_EQ(refs.find(0, 3), nullptr);          // no token
  EXPECT_EQ(refs.find(0, 4), nullptr);          // no such item
  EXPECT_EQ(refs.find(0, -1), nullptr);
  EXPECT_EQ(refs.feature_set, (std::set<Tokens>{t("printer")}));
  EXPECT_TRUE(reference_pairs(refs).empty());
}

TEST(SplitPairs, ListsTheSplitsEventsInOrder) {
  Dataset d;
  d.user = {0, 0, 1, 1};
  d.item = {5, 6, 7, 8};
  d.split = {Split::kTrain, Split::kTest, Split::kCold, Split::kTest};
  const std::vector<UserItem> test = split_pairs(d, Split::kTest);
  ASSERT_EQ(test.size(), 2u);
  EXPECT_EQ(test[0].user, 0);
  EXPECT_EQ(test[0].item, 6);
  EXPECT_EQ(test[1].user, 1);
  EXPECT_EQ(test[1].item, 8);
}

}  // namespace
}  // namespace hybrec::trainer
