// One HybridModel::forward_backward on a synthetic batch of the typical
// training shape (B=256, C=9, L=20, T=64, 1 layer, 2 heads), for d = 32
// and 64, and the forward alone; plus the demo trainer's shape (C=17) with
// every history left-padded to a uniform length in [1, 20] (about half the
// slots padded, as in the synthetic data set).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "trainer/model/counter_rng.h"
#include "trainer/model/hybrid_model.h"

namespace hybrec::trainer {
namespace {

constexpr int64_t kTextRows = 50000;

struct StepSetup {
  // short_histories: every history is padded (not one in four).
  StepSetup(int64_t batch, int64_t dim, int64_t cands = 9, bool short_histories = false)
      : model(make_config(dim)) {
    const ModelConfig& c = model.config();
    b.size = batch;
    b.candidates = cands;
    b.history_len = c.history_len;
    // Each example: its own user, `cands` candidates and 20 history items
    // drawn from a pool of 4 * batch items, about a quarter of histories
    // (all with short_histories) shorter than L (left-padded).
    const int64_t pool = 4 * batch;
    for (int64_t i = 0; i < batch; ++i) b.user_ids.push_back(i);
    for (int64_t i = 0; i < pool; ++i) b.item_ids.push_back((i * 7919) % kTextRows);
    for (int64_t i = 0; i < batch; ++i) {
      b.user_slot.push_back(static_cast<int32_t>(i));
      for (int64_t k = 0; k < b.candidates; ++k) {
        b.cand_slot.push_back(static_cast<int32_t>(counter_hash(1, i, k) % pool));
        b.log_q.push_back(k == 0 ? 0.0f : -5.0f);
      }
      const int64_t pad =
          short_histories || i % 4 == 0 ? static_cast<int64_t>(counter_hash(2, i, 0) % 20) : 0;
      for (int64_t l = 0; l < c.history_len; ++l) {
        b.hist_slot.push_back(l < pad ? -1 : static_cast<int32_t>(counter_hash(3, i, l) % pool));
      }
    }
    params.resize(static_cast<std::size_t>(model.num_params()));
    model.init_params(1, params.data());
    user_rows = values(4, batch * dim);
    item_rows = values(5, pool * dim);
    text = values(6, kTextRows * c.text_dim);
    dense.resize(params.size());
    user_grads.resize(user_rows.size());
    item_grads.resize(item_rows.size());
  }

  static ModelConfig make_config(int64_t dim) {
    ModelConfig c;
    c.dim = dim;
    c.text_dim = 64;
    c.history_len = 20;
    c.layers = 1;
    c.heads = 2;
    c.id_dropout = 0.1f;
    return c;
  }

  static std::vector<float> values(uint64_t seed, int64_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      v[static_cast<std::size_t>(i)] = counter_uniform(seed, 0, static_cast<uint64_t>(i)) - 0.5f;
    }
    return v;
  }

  HybridModel::StepInputs inputs() const {
    HybridModel::StepInputs in;
    in.batch = &b;
    in.params = params.data();
    in.user_rows = user_rows.data();
    in.item_rows = item_rows.data();
    in.text_emb = text.data();
    in.num_text_rows = kTextRows;
    in.dropout_seed = 7;
    return in;
  }

  HybridModel model;
  Batch b;
  std::vector<float> params, user_rows, item_rows, text, dense, user_grads, item_grads;
};

void forward_backward_loop(benchmark::State& state, StepSetup& s) {
  HybridModel::StepOutputs out;
  out.dense_grad = s.dense.data();
  out.user_row_grads = s.user_grads.data();
  out.item_row_grads = s.item_grads.data();
  for (auto _ : state) benchmark::DoNotOptimize(s.model.forward_backward(s.inputs(), out));
  state.counters["examples/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * state.range(0)), benchmark::Counter::kIsRate);
}

void BM_ForwardBackward(benchmark::State& state) {
  StepSetup s(state.range(0), state.range(1));
  forward_backward_loop(state, s);
}

void BM_ForwardBackwardShortHistory(benchmark::State& state) {
  StepSetup s(state.range(0), state.range(1), state.range(2), true);
  forward_backward_loop(state, s);
}

void BM_Forward(benchmark::State& state) {
  StepSetup s(state.range(0), state.range(1));
  for (auto _ : state) benchmark::DoNotOptimize(s.model.forward_loss(s.inputs()));
  state.counters["examples/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * state.range(0)), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_ForwardBackward)->Args({256, 32})->Args({256, 64})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Forward)->Args({256, 32})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ForwardBackwardShortHistory)->Args({256, 32, 17})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ForwardBackward)->Name("BM_ForwardBackward/Small")->Args({16, 32});

}  // namespace
}  // namespace hybrec::trainer
