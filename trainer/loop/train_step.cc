#include "trainer/loop/train_step.h"

#include "hybrec/kernels/splitmix.h"
#include "trainer/loop/lr_schedule.h"

namespace hybrec::trainer {

namespace {

DenseAdamOptions adam_options(const TrainConfig& config) {
  DenseAdamOptions options;
  options.weight_decay = static_cast<float>(config.train.weight_decay);
  options.max_norm = static_cast<float>(config.train.clip_norm);
  return options;
}

}  // namespace

TrainStep::TrainStep(const TrainConfig& config, Communicator& comm, const Dataset& data,
                     const HybridModel& model, const TrainingSet& set, SparseTables* tables,
                     int64_t steps_per_epoch, int64_t total_steps)
    : config_(config),
      comm_(comm),
      data_(data),
      model_(model),
      set_(set),
      tables_(tables),
      steps_per_epoch_(steps_per_epoch),
      total_steps_(total_steps),
      sampler_(set, config.train.sampler, config.train.popularity_alpha,
               static_cast<uint64_t>(config.train.seed)),
      builder_(set, sampler_, config.train.negatives, config.model.history_len),
      params_(static_cast<std::size_t>(model.num_params())),
      grad_(params_.size()),
      adam_(model.num_params(), adam_options(config)),
      buckets_(comm, grad_.data(), model.num_params(), config.train.bucket_kib << 10),
      dropped_(model.config(), data, set) {
  model_.init_params(static_cast<uint64_t>(config_.train.seed), params_.data());
}

void TrainStep::begin(int64_t step) {
  if (step < total_steps_) prepare(step, slots_[step % 2]);
}

void TrainStep::prepare(int64_t step, Slot& slot) {
  const int64_t epoch = step / steps_per_epoch_, in_epoch = step % steps_per_epoch_;
  if (epoch != order_epoch_) {
    order_ = epoch_order(static_cast<int64_t>(set_.examples.size()),
                         static_cast<uint64_t>(config_.train.seed), epoch);
    order_epoch_ = epoch;
  }
  const int64_t B = config_.train.batch_size, W = comm_.size(), r = comm_.rank();
  batch_examples_.resize(static_cast<std::size_t>(B));
  // Rank-strided: the step's W*B examples, rank r taking every W-th.
  for (int64_t i = 0; i < B; ++i) batch_examples_[i] = order_[(in_epoch * B + i) * W + r];
  builder_.build(epoch, batch_examples_.data(), B, &slot.batch);
  pull(slot);
}

void TrainStep::pull(Slot& slot) {
  const auto d = static_cast<std::size_t>(config_.model.dim);
  const std::size_t users = slot.batch.user_ids.size(), items = slot.batch.item_ids.size();
  slot.user_rows.resize(users * d);
  slot.item_rows.resize(items * d);
  slot.user_grads.resize(users * d);
  slot.item_grads.resize(items * d);
  if (tables_) slot.pull = tables_->pull(slot.batch, slot.user_rows.data(), slot.item_rows.data());
}

double TrainStep::run(int64_t step) {
  Slot& cur = slots_[step % 2];
  Slot& next = slots_[(step + 1) % 2];
  const bool sync = config_.train.sync;
  const bool more = step + 1 < total_steps_;
  cur.pull.wait();
  if (!sync && more) {
    // The next batch's pull overlaps this batch's compute (its rows may miss
    // this step's push: bounded staleness of one step).
    next.push.wait();
    prepare(step + 1, next);
  }
  const double loss =
      compute(cur, step, learning_rate(config_.train, step, total_steps_),
              data_.item_text_emb.empty() ? nullptr : data_.item_text_emb.data(), 0);
  if (sync) {
    push_in_rank_order(cur);
    if (more) prepare(step + 1, next);
  }
  return loss;
}

double TrainStep::run_examples(int64_t step, const std::vector<ExampleSpec>& examples,
                               const float* text_emb, int64_t text_rows, double lr) {
  Slot& slot = slots_[0];
  builder_.build(examples.data(), static_cast<int64_t>(examples.size()), &slot.batch);
  pull(slot);
  slot.pull.wait();
  const double loss = compute(slot, step, lr, text_emb, text_rows);
  if (config_.train.sync) {
    push_in_rank_order(slot);
  } else {
    slot.push.wait();
  }
  return loss;
}

double TrainStep::compute(Slot& cur, int64_t step, double lr, const float* text_emb,
                          int64_t text_rows) {
  HybridModel::StepInputs in;
  in.batch = &cur.batch;
  in.params = params_.data();
  in.user_rows = cur.user_rows.data();
  in.item_rows = cur.item_rows.data();
  in.text_emb = text_emb;
  in.num_text_rows = text_rows;
  in.dropout_seed = splitmix64(static_cast<uint64_t>(config_.train.seed) * 0x9e37ULL +
                               static_cast<uint64_t>(step));
  in.training = true;
  if (tables_ && dropped_.active()) {
    // Read now rather than with the batch's pull, so a stand-in is as fresh
    // as the rows it averages (one blocking read of the dropped items'
    // neighbours per step).
    in.dropped_item_rows = dropped_.fill(
        cur.batch, in.dropout_seed,
        [this](const std::string& table, const int64_t* keys, int64_t n, float* out) {
          tables_->fetch(table, keys, n, out);
        },
        &dropped_rows_);
  }
  HybridModel::StepOutputs out;
  out.dense_grad = grad_.data();
  out.user_row_grads = cur.user_grads.data();
  out.item_row_grads = cur.item_grads.data();
  out.grad_ready = [this](int64_t b, int64_t e) { buckets_.on_ready(b, e); };
  const double loss = model_.forward_backward(in, out);
  if (tables_ && !config_.train.sync) {
    cur.push = tables_->push(cur.batch, cur.user_grads.data(), cur.item_grads.data());
  }
  buckets_.finish(/*average=*/true);
  adam_.step(static_cast<float>(lr), grad_.data(), params_.data());
  return loss;
}

// Sync mode's pushes: one rank at a time, in rank order, so every shard
// applies a step's row gradients in the same order in every run (the sparse
// optimizers' updates of a row do not commute in floating point) and the
// run is reproducible whatever the timing. The last barrier also completes
// every rank's push before any rank's next pull.
void TrainStep::push_in_rank_order(Slot& slot) {
  if (!tables_) return;
  for (int r = 0; r < comm_.size(); ++r) {
    if (r == comm_.rank()) {
      slot.push = tables_->push(slot.batch, slot.user_grads.data(), slot.item_grads.data());
      slot.push.wait();
    }
    comm_.barrier();
  }
}

void TrainStep::wait_pushes() {
  for (auto& slot : slots_) slot.push.wait();
}

void TrainStep::drain() {
  for (auto& slot : slots_) {
    slot.push.wait();
    slot.pull.wait();
  }
}

}  // namespace hybrec::trainer
