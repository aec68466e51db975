// The online trainer's state on hand-made data: each streamed example sees
// the history before its event, the ranks' shares, new items' text rows and
// their place among the negatives, and ids too far past the dataset's.
#include "trainer/loop/stream_state.h"

#include <gtest/gtest.h>

#include "hybrec/kernels/error.h"
#include "loop_testing.h"

namespace hybrec::trainer {
namespace {

StreamEvent event(int64_t user, int64_t item, uint64_t position, std::string text = "") {
  StreamEvent e;
  e.user = user;
  e.item = item;
  e.position = position;
  e.item_text = std::move(text);
  return e;
}

std::vector<int64_t> history_of(const ExampleSpec& spec) {
  return std::vector<int64_t>(spec.history, spec.history + spec.history_size);
}

class StreamStateTest : public ::testing::Test {
 protected:
  StreamStateTest() {
    data_.text_dim = 2;
    data_.item_text_emb.assign(12, 1.0f);  // 6 items x 2 dims
    set_ = make_training_set(data_);
  }
  Dataset data_ = testing::tiny_dataset();
  TrainingSet set_;
};

TEST_F(StreamStateTest, EachExampleSeesTheHistoryBeforeItsEvent) {
  StreamState state(set_, {});
  NegativeSampler sampler(set_, Sampler::kUniform, 0.75, 1);
  std::vector<ExampleSpec> specs;
  std::vector<int64_t> histories;
  std::vector<std::vector<int64_t>> seen;
  // User 0 trained on items 0, 1 offline; user 1 on item 1.
  state.take({event(0, 4, 1), event(1, 3, 2), event(0, 2, 3)}, 0, 1, 2, &sampler, &specs,
             &histories, &seen);
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(history_of(specs[0]), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(history_of(specs[1]), (std::vector<int64_t>{1}));
  EXPECT_EQ(history_of(specs[2]), (std::vector<int64_t>{1, 4}));  // the last 2, 4 streamed
  EXPECT_EQ(seen[2], (std::vector<int64_t>{0, 1, 4}));
  EXPECT_EQ(specs[2].target, 2);
  EXPECT_EQ(specs[2].epoch, kStreamEpoch);
  EXPECT_EQ(specs[2].key, 3);  // the position: negatives a resumed run draws again
  // The next micro-batch goes on from there.
  state.take({event(0, 3, 4)}, 0, 1, 4, &sampler, &specs, &histories);
  EXPECT_EQ(history_of(specs[0]), (std::vector<int64_t>{0, 1, 4, 2}));
}

TEST_F(StreamStateTest, RanksTakeEveryWthEventButAllApplyEveryEvent) {
  StreamState state(set_, {});
  NegativeSampler sampler(set_, Sampler::kUniform, 0.75, 1);
  std::vector<ExampleSpec> specs;
  std::vector<int64_t> histories;
  state.take({event(2, 1, 1), event(2, 2, 2), event(2, 3, 3), event(2, 4, 4)}, 1, 2, 8, &sampler,
             &specs, &histories);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].target, 2);
  EXPECT_EQ(specs[1].target, 4);
  EXPECT_EQ(history_of(specs[1]), (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST_F(StreamStateTest, NewItemsGetTextRowsAndJoinTheNegatives) {
  StreamState state(set_, [](const std::string& text) {
    return std::vector<float>{static_cast<float>(text.size()), 0.5f};
  });
  NegativeSampler sampler(set_, Sampler::kUniform, 0.75, 1);
  ASSERT_EQ(sampler.num_candidates(), 2);  // items 0 and 1
  std::vector<ExampleSpec> specs;
  std::vector<int64_t> histories;
  const auto added =
      state.take({event(5, 8, 1, "abc"), event(0, 5, 2), event(1, 8, 3, "ignored"), event(4, 6, 4)},
                 0, 1, 2, &sampler, &specs, &histories);
  EXPECT_EQ(added, (std::vector<int64_t>{8, 6}));
  EXPECT_EQ(state.new_items(), added);
  EXPECT_EQ(state.new_item_text(8), "abc");
  EXPECT_EQ(state.catalogue_items(), 8);
  EXPECT_EQ(state.item_rows(), 9);
  EXPECT_EQ(state.text_rows(), 9);
  EXPECT_EQ(state.text_row(8)[0], 3.0f);  // its first event's text; later text is ignored
  EXPECT_EQ(state.text_row(8)[1], 0.5f);
  EXPECT_EQ(state.text_row(7)[0], 0.0f);  // an id never seen: a zero row
  EXPECT_EQ(state.text_row(6)[0], 0.0f);  // a new item without text
  EXPECT_EQ(state.text_row(2)[0], 1.0f);  // the dataset's rows stay
  // New items and the streamed cold item 5 are negatives now.
  EXPECT_EQ(sampler.num_candidates(), 5);
}

TEST_F(StreamStateTest, IdsFarPastTheDatasetsAreAnErrorNamingThePosition) {
  StreamState state(set_, {});
  NegativeSampler sampler(set_, Sampler::kUniform, 0.75, 1);
  std::vector<ExampleSpec> specs;
  std::vector<int64_t> histories;
  try {
    state.take({event(0, int64_t{1} << 40, 17)}, 0, 1, 2, &sampler, &specs, &histories);
    FAIL() << "an item id 2^40 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("position 17"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hybrec::trainer
