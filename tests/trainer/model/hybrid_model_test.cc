#include "trainer/model/hybrid_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "hybrec/kernels/device.h"
#include "hybrec/kernels/error.h"
#include "model_fixture.h"
#include "trainer/model/id_tables.h"
#include "trainer/model/item_tower.h"

namespace hybrec::trainer {
namespace {

using testing::ModelFixture;

ModelConfig hybrid() { return testing::tiny_config(); }
ModelConfig cf_only() {
  ModelConfig c = testing::tiny_config();
  c.use_text = false;
  c.use_text_score = false;
  return c;
}
ModelConfig text_only() {
  ModelConfig c = testing::tiny_config();
  c.use_id = false;
  return c;
}

std::set<std::string> names(const HybridModel& m) {
  std::set<std::string> out;
  for (const DenseTensor& t : m.tensors()) out.insert(t.name);
  return out;
}

TEST(HybridModel, TensorsTileTheFlatBufferInForwardOrder) {
  for (const ModelConfig& c : {hybrid(), cf_only(), text_only()}) {
    HybridModel m(c);
    int64_t offset = 0;
    for (const DenseTensor& t : m.tensors()) {
      EXPECT_EQ(t.offset, offset) << t.name;
      offset += t.size();
    }
    EXPECT_EQ(offset, m.num_params());
    EXPECT_EQ(m.tensors().front().name, c.use_text ? "adapter" : "positions");
  }
}

TEST(HybridModel, AblationsHaveTheirParameterSets) {
  const std::set<std::string> shared = {"positions", "bilinear", "encoder.0.qkv.weight",
                                        "encoder.1.ln2.beta"};
  const std::set<std::string> text = {"adapter", "text_scale", "lambda"};
  for (const ModelConfig& c : {hybrid(), text_only()}) {
    const std::set<std::string> n = names(HybridModel(c));
    for (const auto& s : shared) EXPECT_EQ(n.count(s), 1u) << s;
    for (const auto& s : text) EXPECT_EQ(n.count(s), 1u) << s;
    EXPECT_EQ(n.size(), 2u + 12u * 2u + 3u);
  }
  const std::set<std::string> n = names(HybridModel(cf_only()));
  for (const auto& s : shared) EXPECT_EQ(n.count(s), 1u) << s;
  for (const auto& s : text) EXPECT_EQ(n.count(s), 0u) << s;

  ModelConfig no_history = hybrid();
  no_history.use_history = false;
  EXPECT_EQ(names(HybridModel(no_history)),
            (std::set<std::string>{"adapter", "bilinear", "text_scale", "lambda"}));
  const HybridModel m(hybrid());
  ASSERT_NE(m.find_tensor("encoder.1.ffn1.weight"), nullptr);
  EXPECT_EQ(m.find_tensor("encoder.1.ffn1.weight")->rows, 16);
  EXPECT_EQ(m.find_tensor("encoder.1.ffn1.weight")->cols, 8);
  EXPECT_EQ(m.find_tensor("adapter")->cols, 6);
  EXPECT_EQ(m.find_tensor("nope"), nullptr);
}

TEST(HybridModel, EveryAblationTrainsWithoutTheInputsItDoesNotUse) {
  for (const ModelConfig& c : {hybrid(), cf_only(), text_only()}) {
    ModelFixture f(c);
    HybridModel::StepInputs in = f.inputs(true);
    if (!c.use_text && !c.use_text_score) in.text_emb = nullptr;
    std::vector<float> dense(f.params.size()), users(f.user_rows.size(), 3.0f),
        items(f.item_rows.size(), 3.0f);
    HybridModel::StepOutputs out;
    out.dense_grad = dense.data();
    out.user_row_grads = users.data();
    out.item_row_grads = items.data();
    const float loss = f.model.forward_backward(in, out);
    EXPECT_TRUE(std::isfinite(loss));
    EXPECT_GT(loss, 0.0f);
    double norm = 0.0;
    for (float g : dense) {
      ASSERT_TRUE(std::isfinite(g));
      norm += g * g;
    }
    EXPECT_GT(norm, 0.0);
    double user_norm = 0.0, item_norm = 0.0;
    for (float g : users) user_norm += g * g;
    for (float g : items) item_norm += g * g;
    // Without ids there are no row gradients (zeros, not left untouched).
    EXPECT_EQ(user_norm > 0.0, c.use_id);
    EXPECT_EQ(item_norm > 0.0, c.use_id);
  }
}

TEST(HybridModel, RejectsInvalidConfigsNamingTheField) {
  ModelConfig c = hybrid();
  c.heads = 3;
  try {
    HybridModel m(c);
    FAIL() << "heads = 3 with dim = 8 was accepted";
  } catch (const hybrec::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.heads = 3"), std::string::npos) << e.what();
  }
  c = hybrid();
  c.use_id = false;
  c.use_text = false;
  EXPECT_THROW(HybridModel{c}, hybrec::Error);
  c = hybrid();
  c.text_dim = 0;
  EXPECT_THROW(HybridModel{c}, hybrec::Error);
  c = cf_only();
  c.text_dim = 0;
  EXPECT_NO_THROW(HybridModel{c});
}

TEST(HybridModel, RejectsBatchSlotsOutOfRange) {
  ModelFixture f(hybrid());
  f.batch.cand_slot[4] = 6;
  EXPECT_THROW(f.model.forward_loss(f.inputs()), hybrec::Error);
  f.batch = testing::tiny_batch();
  f.batch.hist_slot[0] = -2;
  EXPECT_THROW(f.model.forward_loss(f.inputs()), hybrec::Error);
  f.batch = testing::tiny_batch();
  f.batch.item_ids[1] = testing::kNumGlobalItems;
  EXPECT_THROW(f.model.forward_loss(f.inputs()), hybrec::Error);
}

TEST(HybridModel, InitIsAPureFunctionOfConfigAndSeed) {
  const HybridModel a(hybrid()), b(hybrid());
  std::vector<float> p1(static_cast<std::size_t>(a.num_params()), 1.0f), p2 = p1, p3 = p1;
  std::vector<float> p4(p1.size(), -1.0f);
  a.init_params(42, p1.data());
  b.init_params(42, p2.data());
  a.init_params(43, p3.data());
  a.init_params(42, p4.data());
  EXPECT_EQ(p1, p2);
  EXPECT_EQ(p1, p4);
  EXPECT_NE(p1, p3);
  const DenseTensor* gamma = a.find_tensor("encoder.0.ln1.gamma");
  const DenseTensor* beta = a.find_tensor("encoder.0.ln1.beta");
  for (int64_t i = 0; i < gamma->size(); ++i) {
    EXPECT_EQ(p1[static_cast<std::size_t>(gamma->offset + i)], 1.0f);
    EXPECT_EQ(p1[static_cast<std::size_t>(beta->offset + i)], 0.0f);
  }
  EXPECT_EQ(p1[static_cast<std::size_t>(a.find_tensor("lambda")->offset)], 0.7f);
  EXPECT_EQ(p1[static_cast<std::size_t>(a.find_tensor("text_scale")->offset)], 5.0f);
  const DenseTensor* w = a.find_tensor("bilinear");
  for (int64_t i = 0; i < 8; ++i) {
    for (int64_t j = 0; j < 8; ++j) {
      const float v = p1[static_cast<std::size_t>(w->offset + i * 8 + j)];
      EXPECT_NEAR(v, i == j ? 1.0f : 0.0f, a.config().init_scale);
    }
  }
  const DenseTensor* qkv = a.find_tensor("encoder.0.qkv.weight");
  const float bound = std::sqrt(6.0f / (24 + 8));
  for (int64_t i = 0; i < qkv->size(); ++i) {
    EXPECT_LE(std::fabs(p1[static_cast<std::size_t>(qkv->offset + i)]), bound);
  }
}

TEST(HybridModel, ForwardBackwardIsBitReproducibleAndCopiesAgree) {
  ModelConfig c = hybrid();
  c.id_dropout = 0.3f;
  ModelFixture f(c);
  const ModelFixture::Grads a = f.run(true, 11);
  const ModelFixture::Grads b = f.run(true, 11);
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.dense, b.dense);
  EXPECT_EQ(a.users, b.users);
  EXPECT_EQ(a.items, b.items);
  ModelFixture g(c);
  g.model = HybridModel(f.model);  // a copy has its own workspace
  const ModelFixture::Grads d = g.run(true, 11);
  EXPECT_EQ(a.dense, d.dense);
  EXPECT_EQ(a.items, d.items);
}

// The encoder keeps only the real history positions and reuses its buffers;
// a step after one with other padding must not see the earlier values.
TEST(HybridModel, StepAfterADifferentlyPaddedBatchMatchesAFreshModel) {
  const ModelFixture fresh(hybrid());
  const ModelFixture::Grads want = fresh.run();
  ModelFixture f(hybrid());
  for (int32_t& slot : f.batch.hist_slot) {
    if (slot < 0) slot = 5;
  }
  f.run();
  f.batch = testing::tiny_batch();
  const ModelFixture::Grads got = f.run();
  EXPECT_EQ(want.loss, got.loss);
  EXPECT_EQ(want.dense, got.dense);
  EXPECT_EQ(want.users, got.users);
  EXPECT_EQ(want.items, got.items);
}

TEST(HybridModel, BatchWithoutAnyHistoryLeavesTheEncoderGradientsZero) {
  ModelFixture f(hybrid());
  for (int32_t& slot : f.batch.hist_slot) slot = -1;
  const ModelFixture::Grads g = f.run();
  EXPECT_TRUE(std::isfinite(g.loss));
  for (const DenseTensor& t : f.model.tensors()) {
    if (t.name.rfind("encoder.", 0) != 0 && t.name != "positions") continue;
    for (int64_t i = 0; i < t.size(); ++i) {
      EXPECT_EQ(g.dense[static_cast<std::size_t>(t.offset + i)], 0.0f) << t.name << "[" << i << "]";
    }
  }
}

TEST(HybridModel, ForwardLossIsTheLossOfForwardBackwardWithoutDropout) {
  ModelConfig c = hybrid();
  c.id_dropout = 0.5f;
  ModelFixture f(c);
  EXPECT_EQ(f.model.forward_loss(f.inputs(true, 3)), f.run(false).loss);
  EXPECT_NE(f.run(true, 3).loss, f.run(false).loss);
}

TEST(HybridModel, GradReadyCoversTheBufferOnceInDecreasingOrderWithFinalValues) {
  for (const ModelConfig& c : {hybrid(), cf_only(), text_only()}) {
    ModelFixture f(c);
    std::vector<float> dense(f.params.size(), 0.0f), snapshot(f.params.size(), NAN);
    std::vector<std::pair<int64_t, int64_t>> ranges;
    HybridModel::StepOutputs out;
    out.dense_grad = dense.data();
    out.grad_ready = [&](int64_t begin, int64_t end) {
      ranges.emplace_back(begin, end);
      for (int64_t i = begin; i < end; ++i)
        snapshot[static_cast<std::size_t>(i)] = dense[static_cast<std::size_t>(i)];
    };
    f.model.forward_backward(f.inputs(true), out);
    ASSERT_FALSE(ranges.empty());
    EXPECT_EQ(ranges.front().second, f.model.num_params());
    EXPECT_EQ(ranges.back().first, 0);
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      EXPECT_LT(ranges[i].first, ranges[i].second);
      if (i > 0) {
        EXPECT_EQ(ranges[i].second, ranges[i - 1].first);
      }
    }
    // Several buckets, so the all-reduce can overlap the backward.
    EXPECT_GE(ranges.size(), c.use_text_score ? 5u : 4u);
    EXPECT_EQ(snapshot, dense);  // nothing changed after it was reported final
  }
}

TEST(HybridModel, WhileRunningIsCalledOnceAfterEveryGradientRangeIsReported) {
  ModelFixture f(hybrid());
  std::vector<float> dense(f.params.size(), 0.0f);
  int64_t reported = 0, reported_at_call = -1, calls = 0;
  HybridModel::StepOutputs out;
  out.dense_grad = dense.data();
  out.grad_ready = [&](int64_t begin, int64_t end) { reported += end - begin; };
  out.while_running = [&] {
    ++calls;
    reported_at_call = reported;
  };
  const float loss = f.model.forward_backward(f.inputs(true), out);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(reported_at_call, f.model.num_params());  // the whole backward enqueued first
  // The hook changes nothing the step computes.
  HybridModel::StepOutputs plain;
  std::vector<float> plain_dense(f.params.size(), 0.0f);
  plain.dense_grad = plain_dense.data();
  EXPECT_EQ(f.model.forward_backward(f.inputs(true), plain), loss);
  EXPECT_EQ(plain_dense, dense);
}

TEST(HybridModel, FullIdDropoutZeroesEveryItemRowGradient) {
  ModelConfig c = hybrid();
  c.id_dropout = 1.0f;
  ModelFixture f(c);
  const ModelFixture::Grads g = f.run(true, 9);
  for (float v : g.items) EXPECT_EQ(v, 0.0f);
  double user_norm = 0.0;
  for (float v : g.users) user_norm += v * v;
  EXPECT_GT(user_norm, 0.0);
  // With every e_j dropped the loss is the loss with zero item rows.
  ModelConfig c0 = hybrid();
  ModelFixture z(c0);
  std::fill(z.item_rows.begin(), z.item_rows.end(), 0.0f);
  EXPECT_FLOAT_EQ(g.loss, z.run(false).loss);
}

TEST(HybridModel, DroppedItemsTakeTheLearnedNewItemVector) {
  ModelConfig c = hybrid();
  c.id_dropout = 1.0f;
  c.unseen_items = UnseenItems::kLearned;
  ModelFixture f(c);
  const DenseTensor* e_new = f.model.find_tensor("new_item");
  ASSERT_NE(e_new, nullptr);
  ASSERT_EQ(e_new->size(), c.dim);
  const ModelFixture::Grads g = f.run(true, 9);
  // Every item dropped: the loss is that of every item row equal to e_new
  // (the same parameters otherwise: the layout differs by e_new only).
  ModelConfig plain = hybrid();
  ModelFixture z(plain);
  z.params.assign(f.params.begin() + e_new->size(), f.params.end());
  for (int64_t i = 0; i < z.items(); ++i) {
    std::copy_n(f.params.begin() + e_new->offset, c.dim, z.item_rows.begin() + i * c.dim);
  }
  EXPECT_FLOAT_EQ(g.loss, z.run(false).loss);
  // And e_new's gradient is the sum of those rows' gradients there.
  const ModelFixture::Grads gz = z.run(false);
  for (int64_t k = 0; k < c.dim; ++k) {
    double sum = 0.0;
    for (int64_t i = 0; i < z.items(); ++i) sum += gz.items[static_cast<std::size_t>(i * c.dim + k)];
    EXPECT_NEAR(g.dense[static_cast<std::size_t>(e_new->offset + k)], sum, 1e-5) << "dim " << k;
  }
}

TEST(HybridModel, ItemVectorsGiveUnseenItemsTheNewItemVectorOnlyWhenLearned) {
  for (UnseenItems mode : {UnseenItems::kNoise, UnseenItems::kZero, UnseenItems::kLearned}) {
    ModelConfig c = hybrid();
    c.unseen_items = mode;
    ModelFixture f(c);
    const int64_t n = 3, d = c.dim;
    const std::vector<int64_t> ids = {0, 1, 2};
    std::vector<float> rows = testing::random_values(5, n * d, 0.5f);
    std::fill(rows.begin() + d, rows.begin() + 2 * d, 0.0f);  // item 1: an untrained row
    const std::vector<uint8_t> unseen = {0, 1, 0};
    std::vector<float> flagged(static_cast<std::size_t>(n * d)), plain(flagged.size());
    f.model.item_vectors(f.params.data(), n, ids.data(), rows.data(), f.text.data(), unseen.data(),
                         flagged.data());
    f.model.item_vectors(f.params.data(), n, ids.data(), rows.data(), f.text.data(), nullptr,
                         plain.data());
    const DenseTensor* e_new = f.model.find_tensor("new_item");
    EXPECT_EQ(e_new != nullptr, mode == UnseenItems::kLearned);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t k = 0; k < d; ++k) {
        const std::size_t at = static_cast<std::size_t>(i * d + k);
        const float extra = i == 1 && e_new != nullptr ? f.params[e_new->offset + k] : 0.0f;
        EXPECT_FLOAT_EQ(flagged[at], plain[at] + extra) << "item " << i << " dim " << k;
      }
    }
  }
}

// The boost is added to the flagged items' fused scores and to nothing else,
// with and without the text score (whose fusion rescales z).
TEST(HybridModel, ScoreItemsAddsTheNewItemBoostToUnseenItemsOnly) {
  for (const bool text_score : {true, false}) {
    ModelConfig c = hybrid();
    c.use_text_score = text_score;
    c.unseen_items = UnseenItems::kZero;
    c.new_item_boost = 2.5f;
    ModelFixture f(c);
    const int64_t n = 4, users = 2, d = c.dim, t = c.text_dim;
    const std::vector<int64_t> ids = {0, 1, 2, 3};
    std::vector<float> rows = testing::random_values(5, n * d, 0.5f);
    std::fill(rows.begin() + 2 * d, rows.begin() + 3 * d, 0.0f);  // item 2 untrained
    const std::vector<uint8_t> unseen = untrained_rows(rows.data(), n, d);
    ASSERT_EQ(unseen, (std::vector<uint8_t>{0, 0, 1, 0}));
    std::vector<float> vecs(static_cast<std::size_t>(n * d));
    f.model.item_vectors(f.params.data(), n, ids.data(), rows.data(), f.text.data(), unseen.data(),
                         vecs.data());
    const std::vector<float> states = testing::random_values(6, users * d, 0.5f);
    std::vector<float> queries = testing::random_values(7, users * t, 0.5f);
    std::vector<float> boosted(static_cast<std::size_t>(users * n)), plain(boosted.size());
    f.model.score_items(f.params.data(), users, states.data(), queries.data(), n, vecs.data(),
                        f.text.data(), unseen.data(), boosted.data());
    f.model.score_items(f.params.data(), users, states.data(), queries.data(), n, vecs.data(),
                        f.text.data(), nullptr, plain.data());
    for (int64_t u = 0; u < users; ++u) {
      for (int64_t j = 0; j < n; ++j) {
        const std::size_t at = static_cast<std::size_t>(u * n + j);
        EXPECT_NEAR(boosted[at], plain[at] + (j == 2 ? 2.5f : 0.0f), 1e-5f)
            << "text score " << text_score << " user " << u << " item " << j;
      }
    }
  }
}

// CF-only (no text side) cannot rank new items among themselves: the boost
// would lift a block of tied zero scores above the warm items, so it is
// ignored, bit for bit.
TEST(HybridModel, ScoreItemsIgnoresTheNewItemBoostWithoutATextSide) {
  ModelConfig c = cf_only();
  c.unseen_items = UnseenItems::kZero;
  c.new_item_boost = 2.5f;
  ModelFixture f(c);
  const int64_t n = 3, users = 2, d = c.dim;
  const std::vector<int64_t> ids = {0, 1, 2};
  std::vector<float> rows = testing::random_values(8, n * d, 0.5f);
  std::fill(rows.begin() + d, rows.begin() + 2 * d, 0.0f);  // item 1 untrained
  const std::vector<uint8_t> unseen = untrained_rows(rows.data(), n, d);
  ASSERT_EQ(unseen, (std::vector<uint8_t>{0, 1, 0}));
  std::vector<float> vecs(static_cast<std::size_t>(n * d));
  f.model.item_vectors(f.params.data(), n, ids.data(), rows.data(), nullptr, unseen.data(),
                       vecs.data());
  const std::vector<float> states = testing::random_values(9, users * d, 0.5f);
  std::vector<float> flagged(static_cast<std::size_t>(users * n)), plain(flagged.size());
  f.model.score_items(f.params.data(), users, states.data(), nullptr, n, vecs.data(), nullptr,
                      unseen.data(), flagged.data());
  f.model.score_items(f.params.data(), users, states.data(), nullptr, n, vecs.data(), nullptr,
                      nullptr, plain.data());
  EXPECT_EQ(flagged, plain);
}

TEST(HybridModel, NewItemBoostNeedsUntrainedRowsThatCanBeTold) {
  ModelConfig c = hybrid();
  c.new_item_boost = 1.0f;  // unseen_items = noise: an untrained row is random
  try {
    HybridModel m(c);
    FAIL() << "new_item_boost with noise rows was accepted";
  } catch (const hybrec::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.new_item_boost"), std::string::npos) << e.what();
  }
  c.unseen_items = UnseenItems::kLearned;
  EXPECT_NO_THROW(HybridModel{c});
  EXPECT_TRUE(boosts_new_items(c));
  // The ablations ignore the key, so a config that ships a boost trains
  // them with one --set: text-only (no id rows) and CF-only (no text side).
  c.unseen_items = UnseenItems::kNoise;
  c.use_id = false;
  EXPECT_NO_THROW(HybridModel{c});
  EXPECT_FALSE(boosts_new_items(c));
  c = cf_only();
  c.new_item_boost = 1.0f;
  EXPECT_NO_THROW(HybridModel{c});
  EXPECT_FALSE(boosts_new_items(c));
  c = hybrid();
  c.unseen_items = UnseenItems::kZero;
  c.new_item_boost = NAN;
  EXPECT_THROW(HybridModel{c}, hybrec::Error);
}

TEST(HybridModel, PartialIdDropoutZeroesExactlyTheDroppedRows) {
  ModelConfig c = hybrid();
  c.id_dropout = 0.5f;
  ModelFixture f(c);
  for (uint64_t seed : {1u, 2u, 3u, 4u}) {
    const ModelFixture::Grads g = f.run(true, seed);
    for (int64_t i = 0; i < f.items(); ++i) {
      const bool dropped =
          id_keep(seed, f.batch.item_ids[static_cast<std::size_t>(i)], 0.5f) == 0.0f;
      double norm = 0.0;
      for (int64_t k = 0; k < c.dim; ++k) {
        const float v = g.items[static_cast<std::size_t>(i * c.dim + k)];
        norm += v * v;
      }
      EXPECT_EQ(norm == 0.0, dropped) << "seed " << seed << " item " << i;
    }
  }
  int dropped = 0;
  for (int64_t id = 0; id < 10000; ++id) dropped += id_keep(77, id, 0.5f) == 0.0f ? 1 : 0;
  EXPECT_NEAR(dropped, 5000, 200);
}

// A dropped item given a stand-in row (StepInputs::dropped_item_rows, the
// trainer's text neighbours) is scored as if the stand-in were its id row,
// and no gradient reaches its own row or the stand-in; kept items ignore
// theirs.
TEST(HybridModel, DroppedItemsScoreWithTheirStandInRowsAsConstants) {
  ModelConfig c = hybrid();
  c.id_dropout = 0.5f;
  ModelFixture dropping(c);
  ModelConfig no_dropout = c;
  no_dropout.id_dropout = 0.0f;
  ModelFixture reference(no_dropout);  // same seed: same params, rows and batch
  const int64_t d = c.dim;
  for (uint64_t seed : {1u, 2u, 3u}) {
    const std::vector<float> stand_in =
        testing::random_values(40 + seed, dropping.items() * d, 0.5f);
    // The reference model sees the stand-ins as the dropped items' own rows.
    reference.item_rows = dropping.item_rows;
    std::vector<uint8_t> dropped(static_cast<std::size_t>(dropping.items()));
    for (int64_t i = 0; i < dropping.items(); ++i) {
      dropped[i] =
          id_keep(seed, dropping.batch.item_ids[static_cast<std::size_t>(i)], 0.5f) == 0.0f;
      if (!dropped[i]) continue;
      std::copy(stand_in.begin() + i * d, stand_in.begin() + (i + 1) * d,
                reference.item_rows.begin() + i * d);
    }
    ASSERT_GT(std::count(dropped.begin(), dropped.end(), uint8_t{1}), 0) << "seed " << seed;

    ModelFixture::Grads got;
    got.dense.assign(dropping.params.size(), -7.0f);
    got.users.assign(dropping.user_rows.size(), -7.0f);
    got.items.assign(dropping.item_rows.size(), -7.0f);
    HybridModel::StepInputs in = dropping.inputs(true, seed);
    in.dropped_item_rows = stand_in.data();
    HybridModel::StepOutputs out;
    out.dense_grad = got.dense.data();
    out.user_row_grads = got.users.data();
    out.item_row_grads = got.items.data();
    got.loss = dropping.model.forward_backward(in, out);
    const ModelFixture::Grads want = reference.run(true, seed);

    EXPECT_FLOAT_EQ(got.loss, want.loss) << "seed " << seed;
    for (std::size_t k = 0; k < got.dense.size(); ++k) {
      ASSERT_NEAR(got.dense[k], want.dense[k], 1e-6f) << "seed " << seed << " parameter " << k;
    }
    for (int64_t i = 0; i < dropping.items(); ++i) {
      for (int64_t k = 0; k < d; ++k) {
        const std::size_t at = static_cast<std::size_t>(i * d + k);
        EXPECT_EQ(got.items[at], dropped[i] ? 0.0f : want.items[at])
            << "seed " << seed << " item " << i;
      }
    }
  }
}

// z' from user_states + score_items over every global item must equal the
// training forward's logits for the same (user, history, candidate).
void expect_evaluation_matches_training(const ModelConfig& c) {
  ModelFixture f(c);
  const int64_t d = c.dim, t = c.text_dim, n_items = testing::kNumGlobalItems;
  const Batch& batch = f.batch;
  std::vector<float> logits(static_cast<std::size_t>(batch.size * batch.candidates));
  f.model.forward_loss(f.inputs(), logits.data());

  std::vector<float> global_rows = testing::random_values(123, n_items * d, 0.5f);
  for (int64_t i = 0; i < f.items(); ++i) {
    for (int64_t k = 0; k < d; ++k) {
      global_rows[static_cast<std::size_t>(batch.item_ids[static_cast<std::size_t>(i)] * d + k)] =
          f.item_rows[static_cast<std::size_t>(i * d + k)];
    }
  }
  std::vector<int64_t> all_ids(static_cast<std::size_t>(n_items));
  for (int64_t i = 0; i < n_items; ++i) all_ids[static_cast<std::size_t>(i)] = i;
  std::vector<float> vecs(static_cast<std::size_t>(n_items * d));
  f.model.item_vectors(f.params.data(), n_items, all_ids.data(), global_rows.data(), f.text.data(),
                       nullptr, vecs.data());

  std::vector<float> user_rows(static_cast<std::size_t>(batch.size * d));
  std::vector<int64_t> history(batch.hist_slot.size());
  for (int64_t b = 0; b < batch.size; ++b) {
    for (int64_t k = 0; k < d; ++k) {
      user_rows[static_cast<std::size_t>(b * d + k)] = f.user_rows[static_cast<std::size_t>(
          batch.user_slot[static_cast<std::size_t>(b)] * d + k)];
    }
  }
  for (std::size_t i = 0; i < history.size(); ++i) {
    history[i] =
        batch.hist_slot[i] < 0 ? -1 : batch.item_ids[static_cast<std::size_t>(batch.hist_slot[i])];
  }
  std::vector<float> users(static_cast<std::size_t>(batch.size * d), NAN);
  std::vector<float> queries(static_cast<std::size_t>(batch.size * t), NAN);
  f.model.user_states(f.params.data(), batch.size, user_rows.data(), history.data(), vecs.data(),
                      f.text.data(), users.data(), queries.data());
  std::vector<float> scores(static_cast<std::size_t>(batch.size * n_items), NAN);
  f.model.score_items(f.params.data(), batch.size, users.data(), queries.data(), n_items,
                      vecs.data(), f.text.data(), nullptr, scores.data());

  for (int64_t b = 0; b < batch.size; ++b) {
    for (int64_t k = 0; k < batch.candidates; ++k) {
      const std::size_t pos = static_cast<std::size_t>(b * batch.candidates + k);
      const int64_t item = batch.item_ids[static_cast<std::size_t>(batch.cand_slot[pos])];
      const float eval = scores[static_cast<std::size_t>(b * n_items + item)];
      // Same math, different float summation order (GEMMs versus per-pair dots).
      EXPECT_NEAR(eval, logits[pos], 1e-5f + 1e-5f * std::fabs(logits[pos]))
          << "example " << b << " candidate " << k;
    }
  }
  for (float s : scores) ASSERT_TRUE(std::isfinite(s));
}

TEST(HybridModel, ScoreItemsEqualsTrainingForwardHybrid) {
  expect_evaluation_matches_training(hybrid());
}
TEST(HybridModel, ScoreItemsEqualsTrainingForwardLastPooling) {
  ModelConfig c = hybrid();
  c.pooling = HistoryPooling::kLast;
  expect_evaluation_matches_training(c);
}
TEST(HybridModel, ScoreItemsEqualsTrainingForwardCfOnly) {
  expect_evaluation_matches_training(cf_only());
}
TEST(HybridModel, ScoreItemsEqualsTrainingForwardTextOnly) {
  expect_evaluation_matches_training(text_only());
}

TEST(HybridModel, RunsOnTheDeviceItIsGivenAndCopiesKeepIt) {
  EXPECT_FALSE(HybridModel(hybrid()).device().is_cuda());
  kernels::Device cpu = kernels::Device::cpu();
  cpu.check_bounds = false;
  const HybridModel m(hybrid(), cpu);
  EXPECT_FALSE(m.device().check_bounds);
  HybridModel copy(m);
  EXPECT_FALSE(copy.device().check_bounds);
  copy = HybridModel(hybrid());
  EXPECT_TRUE(copy.device().check_bounds);
}

TEST(HybridModel, UserWithoutHistoryHasOnlyItsIdEmbedding) {
  ModelFixture f(hybrid());
  const int64_t d = 8, n_items = testing::kNumGlobalItems;
  std::vector<float> vecs(static_cast<std::size_t>(n_items * d), 1.0f);
  const std::vector<int64_t> history = {-1, -1, -1, -1};
  const std::vector<float> row = testing::random_values(5, d, 1.0f);
  std::vector<float> user(static_cast<std::size_t>(d)), query(6, NAN);
  f.model.user_states(f.params.data(), 1, row.data(), history.data(), vecs.data(), f.text.data(),
                      user.data(), query.data());
  EXPECT_EQ(user, row);
  for (float q : query) EXPECT_EQ(q, 0.0f);
}

}  // namespace
}  // namespace hybrec::trainer
