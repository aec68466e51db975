// The training step, apart from the schedule that calls it (trainer.cc):
// one batch's rows pulled from the parameter server, the model's forward and
// backward, the row gradients pushed back, the dense gradients all-reduced in
// buckets while the backward runs, and the dense Adam update. The next
// batch's pull is in flight while this batch computes (async mode), or
// issued when its step begins, after every rank's rank-ordered pushes (sync
// mode).
//
// Batches are a pure function of (seed, epoch, step): the step's W * B
// examples of the epoch's shuffled order, rank r taking every W-th, so a
// resumed run reads exactly what an uninterrupted one would.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "hybrec/kernels/stream_timer.h"
#include "trainer/data/dataset.h"
#include "trainer/dist/communicator.h"
#include "trainer/dist/grad_buckets.h"
#include "trainer/loop/batch_builder.h"
#include "trainer/loop/config.h"
#include "trainer/loop/dropped_item_rows.h"
#include "trainer/loop/examples.h"
#include "trainer/loop/row_cache.h"
#include "trainer/loop/sparse_tables.h"
#include "trainer/model/dense_adam.h"
#include "trainer/model/hybrid_model.h"

namespace hybrec::trainer {

// With the row caches, one table's side of a batch: the cache slots of the
// batch's keys (-1 = a miss), the misses' keys and rows with their state as
// pulled, and the keys and gradients the server receives.
struct CachedRows {
  std::vector<int64_t> slots, miss_keys, push_index, push_keys;
  std::vector<float> miss_rows, push_grads;
  int64_t looked_up_at = 0;  // RowCache::lookup's place
  bool held = false;         // looked up, not yet released
};

// Where a rank's step time goes, summed over the steps since the last
// reset, by host clock. On CUDA the row gradients' read-back waits for the
// backward, so forward_backward ends with the device's model (less the
// next batch's building, counted in `batch`, which overlaps it); in async
// mode `pull` is only the part of the pull that its overlap with the
// previous step did not hide.
struct StepBreakdown {
  int64_t steps = 0;
  double pull = 0;              // waiting for this batch's rows
  double batch = 0;             // building the next batch, looking up the caches, issuing its pull
  double to_device = 0;         // rows, stand-in rows and text to the model
  double forward_backward = 0;  // the model (and, on CUDA, the row gradients' read-back)
  double allreduce = 0;         // what the dense all-reduce did not overlap
  double optimizer = 0;         // the caches' row updates, dense Adam
  double push = 0;              // issuing the pushes (sync mode: the rank-ordered pushes)
  double cache_sync = 0;        // write-back mode's deltas and re-reads
  double total() const {
    return pull + batch + to_device + forward_backward + allreduce + optimizer + push + cache_sync;
  }
  // CUDA only: the same step on the GPU's clock (CUDA events on the model's
  // stream, kernels/stream_timer.h), over device_steps steps. Each span
  // counts the gaps in which the GPU's queue waited for the host, so their
  // sum over the host's total is an upper bound of the GPU's busy share.
  int64_t device_steps = 0;
  double device_upload = 0;            // rows, stand-in rows and text up
  double device_forward_backward = 0;  // the model
  double device_download = 0;          // the row gradients back
  double device_update = 0;            // the caches' updates, all-reduce and dense Adam
  double device_total() const {
    return device_upload + device_forward_backward + device_download + device_update;
  }
};

class TrainStep {
 public:
  // `tables` is null when the model has no id embeddings. Everything passed
  // must outlive the step. The dense parameters start from the model's
  // initialisation for train.seed. The step runs on the model's device: on
  // CUDA the dense parameters, their gradient, Adam's moments, the batch's
  // rows and row gradients and the item text live on the GPU (the rows go
  // up after their pull and the row gradients come back for their push),
  // and the dense gradient is all-reduced over `grad_comm` (which must take
  // device memory: NCCL; nullptr = comm, right on the CPU).
  TrainStep(const TrainConfig& config, Communicator& comm, const Dataset& data,
            const HybridModel& model, const TrainingSet& set, SparseTables* tables,
            int64_t steps_per_epoch, int64_t total_steps, Communicator* grad_comm = nullptr);

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
  // Waits for every push in flight and brings the servers up to date with
  // the row caches (write-back mode; every rank at once: before the tables
  // are read or saved).
  void wait_pushes();
  // Waits for every pull and push in flight; the caches are not written
  // back (a rewind, which reloads the tables, discards them).
  void drain();
  // The end of a run: drain() and the caches written back.
  void finish();
  // Forgets the cached rows (after the servers' tables were reloaded).
  void clear_caches();

  // The step's time by phase since the last reset_breakdown().
  const StepBreakdown& breakdown() const { return times_; }
  void reset_breakdown() { times_ = StepBreakdown(); }

  // The row caches (train.cache_rows), or nullptr when off.
  const RowCache* user_cache() const { return user_cache_.get(); }
  const RowCache* item_cache() const { return item_cache_.get(); }

  // The dense parameters, in host memory (on CUDA read back from the
  // device at each call).
  const std::vector<float>& params() const;
  void set_params(const std::vector<float>& params);
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
    CachedRows user_cached, item_cached;  // with the row caches
  };

  void prepare(int64_t step, Slot& slot);
  void pull(Slot& slot);
  // Forward, backward, the async push, the dense all-reduce and Adam step.
  // `while_running` (may be empty) runs while the device computes.
  double compute(Slot& slot, int64_t step, double lr, const float* text_emb, int64_t text_rows,
                 const std::function<void()>& while_running = {});
  void push_in_rank_order(Slot& slot);
  SparseTables::Pending push(Slot& slot);
  // Write-back mode: every S trained steps, and at wait_pushes().
  void sync_caches();
  // The evicted rows' deltas (async mode: at once; sync mode: in this
  // rank's turn of push_in_rank_order).
  void send_evicted();

  const TrainConfig& config_;
  Communicator& comm_;
  const Dataset& data_;
  const HybridModel& model_;
  const TrainingSet& set_;
  SparseTables* tables_;
  const int64_t steps_per_epoch_, total_steps_;
  const kernels::Device device_;  // the model's
  NegativeSampler sampler_;
  BatchBuilder builder_;
  // Dense parameters and gradient: on the CPU these host arrays are the
  // model's; on CUDA the device buffers are, and params_ is a host copy.
  mutable std::vector<float> params_;
  std::vector<float> grad_;
  kernels::Buffer<float> dev_params_, dev_grad_;
  float* params_on_device() { return device_.is_cuda() ? dev_params_.data() : params_.data(); }
  float* grad_on_device() { return device_.is_cuda() ? dev_grad_.data() : grad_.data(); }
  // CUDA only: device copies of what the model reads and writes per step.
  struct DeviceStaging {
    kernels::Buffer<float> user_rows, item_rows, user_grads, item_grads, text, dropped;
  } staging_;
  kernels::Buffer<float> text_;  // CUDA: the dataset's item text, uploaded once
  DenseAdam adam_;
  GradBuckets buckets_;  // over grad_, reused every step
  Slot slots_[2];
  int64_t order_epoch_ = -1;
  std::vector<int64_t> order_;
  std::vector<int64_t> batch_examples_;
  DroppedItemRows dropped_;  // ID dropout's stand-in rows (text neighbours)
  std::vector<float> dropped_rows_;
  std::unique_ptr<RowCache> user_cache_, item_cache_;
  int64_t trained_steps_ = 0, synced_at_ = 0;  // steps computed; caches synced after
  int64_t prepared_ = -1;                      // the step whose batch prepare() built last
  StepBreakdown times_;
  // CUDA: compute()'s marks on the model's stream, read at the next step
  // (by then the GPU has passed them, so reading them costs no wait).
  std::unique_ptr<kernels::StreamTimer> device_timer_;
  void add_device_times();
};

}  // namespace hybrec::trainer
