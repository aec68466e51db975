// The training step, apart from the schedule that calls it (trainer.cc):
// one batch's rows pulled from the parameter server, the model's forward and
// backward, the row gradients pushed back, the dense gradients all-reduced in
// buckets while the backward runs, and the dense Adam update. The next
// batch's pull is in flight while this batch computes (async mode), or
// issued after the rank-ordered pushes (sync mode).
//
// Batches are a pure function of (seed, epoch, step): the step's W * B
// examples of the epoch's shuffled order, rank r taking every W-th, so a
// resumed run reads exactly what an uninterrupted one would.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/dist/communicator.h"
#include "trainer/dist/grad_buckets.h"
#include "trainer/loop/batch_builder.h"
#include "trainer/loop/config.h"
#include "trainer/loop/dropped_item_rows.h"
#include "trainer/loop/examples.h"
#include "trainer/loop/sparse_tables.h"
#include "trainer/model/dense_adam.h"
#include "trainer/model/hybrid_model.h"

namespace hybrec::trainer {

class TrainStep {
 public:
  // `tables` is null when the model has no id embeddings. Everything passed
  // must outlive the step. The dense parameters start from the model's
  // initialisation for train.seed.
  TrainStep(const TrainConfig& config, Communicator& comm, const Dataset& data,
            const HybridModel& model, const TrainingSet& set, SparseTables* tables,
            int64_t steps_per_epoch, int64_t total_steps);

  // Issues the first batch's pull (call before the first run(), and again
  // after restoring a checkpoint at `step`).
  void begin(int64_t step);
  // Trains step `step` (0-based) and returns this rank's loss; prepares the
  // batch of step + 1 unless it is the last.
  double run(int64_t step);
  // Online training (after drain()): one step on `examples`, this rank's
  // share of a micro-batch (at least one), with the same batch building,
  // sampled negatives, pull, forward and backward, push and dense
  // all-reduce as run(), at learning rate `lr`, the items' text read from
  // text_emb [text_rows, text_dim] (the dataset's and the new items').
  // Nothing is prefetched (the next micro-batch is not known yet); returns
  // this rank's loss once its pushes are applied (in sync mode every
  // rank's: they push in rank order).
  double run_examples(int64_t step, const std::vector<ExampleSpec>& examples, const float* text_emb,
                      int64_t text_rows, double lr);
  // Waits for every push in flight (before the tables are read or saved).
  void wait_pushes();
  // Waits for every pull and push in flight (at the end of a run).
  void drain();

  std::vector<float>& params() { return params_; }
  const std::vector<float>& params() const { return params_; }
  DenseAdam& adam() { return adam_; }
  // The negatives' candidates: the online trainer adds the items that arrive.
  NegativeSampler& sampler() { return sampler_; }

 private:
  // One batch in flight: its keys, pulled rows, row gradients and the
  // requests that read or fill them.
  struct Slot {
    Batch batch;
    std::vector<float> user_rows, item_rows, user_grads, item_grads;
    SparseTables::Pending pull, push;
  };

  void prepare(int64_t step, Slot& slot);
  void pull(Slot& slot);
  // Forward, backward, the async push, the dense all-reduce and Adam step.
  double compute(Slot& slot, int64_t step, double lr, const float* text_emb, int64_t text_rows);
  void push_in_rank_order(Slot& slot);

  const TrainConfig& config_;
  Communicator& comm_;
  const Dataset& data_;
  const HybridModel& model_;
  const TrainingSet& set_;
  SparseTables* tables_;
  const int64_t steps_per_epoch_, total_steps_;
  NegativeSampler sampler_;
  BatchBuilder builder_;
  std::vector<float> params_, grad_;
  DenseAdam adam_;
  GradBuckets buckets_;  // over grad_, reused every step
  Slot slots_[2];
  int64_t order_epoch_ = -1;
  std::vector<int64_t> order_;
  std::vector<int64_t> batch_examples_;
  DroppedItemRows dropped_;  // ID dropout's stand-in rows (text neighbours)
  std::vector<float> dropped_rows_;
};

}  // namespace hybrec::trainer
