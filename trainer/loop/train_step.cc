#include "trainer/loop/train_step.h"

#include <chrono>

#include "hybrec/kernels/splitmix.h"
#include "trainer/loop/lr_schedule.h"
#include "trainer/model/device_arrays.h"

namespace hybrec::trainer {

namespace {

using Clock = std::chrono::steady_clock;

// Adds the time since *last to *phase and moves *last to now.
void lap(Clock::time_point* last, double* phase) {
  const auto now = Clock::now();
  *phase += std::chrono::duration<double>(now - *last).count();
  *last = now;
}

// compute()'s marks on the device timer.
enum DeviceMark { kStart, kUploaded, kModelDone, kGradsBack, kUpdated, kDeviceMarks };

// The cache of one table, reading and writing the servers through `tables`.
std::unique_ptr<RowCache> make_cache(const TrainConfig& config, SparseTables& tables,
                                     const char* table, const kernels::Device& device) {
  RowCacheBacking backing;
  backing.pull_with_state = [&tables, table](const int64_t* keys, int64_t n, float* out) {
    tables.pull_with_state(table, keys, n, out);
  };
  backing.push_delta = [&tables, table](const int64_t* keys, int64_t n, const float* deltas) {
    tables.push_delta(table, keys, n, deltas);
  };
  return std::make_unique<RowCache>(tables.spec(table), config.train.cache_rows,
                                    config.train.cache_sync_steps == 0, device, std::move(backing));
}

// A batch's keys looked up: their slots, and the misses to pull.
void look_up(RowCache& cache, const std::vector<int64_t>& ids, CachedRows* c) {
  const auto n = static_cast<int64_t>(ids.size());
  c->slots.resize(ids.size());
  c->looked_up_at = cache.lookup(ids.data(), n, c->slots.data());
  c->held = true;
  c->miss_keys.clear();
  for (int64_t i = 0; i < n; ++i) {
    if (c->slots[i] < 0) c->miss_keys.push_back(ids[i]);
  }
  c->miss_rows.resize(c->miss_keys.size() * static_cast<std::size_t>(cache.width()));
}

// After the backward: the cached rows updated, the rest of the gradients
// gathered for the push, the batch's hold on its slots released.
void settle(RowCache& cache, const std::vector<int64_t>& ids, const float* device_grads,
            const std::vector<float>& grads, CachedRows* c) {
  const auto n = static_cast<int64_t>(ids.size());
  const int64_t d = cache.dim();
  cache.update(ids.data(), c->slots.data(), n, device_grads, grads.data(), c->miss_rows.data(),
               c->looked_up_at, &c->push_index);
  c->push_keys.resize(c->push_index.size());
  c->push_grads.resize(c->push_index.size() * static_cast<std::size_t>(d));
  for (std::size_t j = 0; j < c->push_index.size(); ++j) {
    const int64_t i = c->push_index[j];
    c->push_keys[j] = ids[i];
    std::copy(grads.begin() + i * d, grads.begin() + (i + 1) * d, c->push_grads.begin() + j * d);
  }
  cache.release(c->slots.data(), n);
  c->held = false;
}

DenseAdamOptions adam_options(const TrainConfig& config) {
  DenseAdamOptions options;
  options.weight_decay = static_cast<float>(config.train.weight_decay);
  options.max_norm = static_cast<float>(config.train.clip_norm);
  return options;
}

}  // namespace

TrainStep::TrainStep(const TrainConfig& config, Communicator& comm, const Dataset& data,
                     const HybridModel& model, const TrainingSet& set, SparseTables* tables,
                     int64_t steps_per_epoch, int64_t total_steps, Communicator* grad_comm)
    : config_(config),
      comm_(comm),
      data_(data),
      model_(model),
      set_(set),
      tables_(tables),
      steps_per_epoch_(steps_per_epoch),
      total_steps_(total_steps),
      device_(model.device()),
      sampler_(set, config.train.sampler, config.train.popularity_alpha,
               static_cast<uint64_t>(config.train.seed)),
      builder_(set, sampler_, config.train.negatives, config.model.history_len),
      params_(static_cast<std::size_t>(model.num_params())),
      grad_(device_.is_cuda() ? 0 : params_.size()),
      dev_params_(device_.is_cuda() ? kernels::Buffer<float>(device_, params_.size())
                                    : kernels::Buffer<float>()),
      dev_grad_(device_.is_cuda() ? kernels::Buffer<float>(device_, params_.size())
                                  : kernels::Buffer<float>()),
      adam_(model.num_params(), adam_options(config), device_),
      buckets_(grad_comm != nullptr ? *grad_comm : comm, grad_on_device(), model.num_params(),
               config.train.bucket_kib << 10, device_),
      dropped_(model.config(), data, set) {
  model_.init_params(static_cast<uint64_t>(config_.train.seed), params_.data());
  if (device_.is_cuda()) {
    device_timer_ = std::make_unique<kernels::StreamTimer>(device_, kDeviceMarks);
    dev_params_.upload(params_);
    if (!data_.item_text_emb.empty()) text_ = kernels::Buffer<float>(device_, data_.item_text_emb);
  }
  if (tables_ && config_.train.cache_rows > 0) {
    HYBREC_CHECK(comm_.size() == 1 || config_.train.cache_sync_steps > 0,
                 "train.cache_sync_steps = 0 (write-through) keeps a cached row exact on one "
                 "trainer rank only; this run has ",
                 comm_.size(),
                 " trainer ranks, whose updates a cached copy would miss: set "
                 "train.cache_sync_steps > 0 (write-back every S steps) or train.cache_rows = 0");
    user_cache_ = make_cache(config_, *tables_, kUserTable, model_.device());
    item_cache_ = make_cache(config_, *tables_, kItemTable, model_.device());
  }
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
  prepared_ = step;
}

void TrainStep::pull(Slot& slot) {
  const auto d = static_cast<std::size_t>(config_.model.dim);
  const std::size_t users = slot.batch.user_ids.size(), items = slot.batch.item_ids.size();
  slot.user_rows.resize(users * d);
  slot.item_rows.resize(items * d);
  slot.user_grads.resize(users * d);
  slot.item_grads.resize(items * d);
  if (!tables_) return;
  if (!user_cache_) {
    slot.pull = tables_->pull(slot.batch, slot.user_rows.data(), slot.item_rows.data());
    return;
  }
  look_up(*user_cache_, slot.batch.user_ids, &slot.user_cached);
  look_up(*item_cache_, slot.batch.item_ids, &slot.item_cached);
  slot.pull =
      tables_->pull_with_state(slot.user_cached.miss_keys, slot.user_cached.miss_rows.data(),
                               slot.item_cached.miss_keys, slot.item_cached.miss_rows.data());
}

double TrainStep::run(int64_t step) {
  Slot& cur = slots_[step % 2];
  Slot& next = slots_[(step + 1) % 2];
  const bool sync = config_.train.sync;
  const bool more = step + 1 < total_steps_;
  auto last = Clock::now();
  // Sync mode prepares a batch when its step begins: its pull then follows
  // everything every rank sent before (the pushes, and the caches' deltas
  // of a sync or a validation in between), whatever the timing.
  if (prepared_ != step) prepare(step, cur);
  cur.pull.wait();
  lap(&last, &times_.pull);
  // The next batch's pull overlaps this batch's compute (its rows may miss
  // this step's push: bounded staleness of one step). On CUDA the batch is
  // built and its pull issued while the GPU computes this one; on the CPU
  // before this step's compute, so the pull has the whole step to land.
  const auto prepare_next = [&] {
    next.push.wait();
    prepare(step + 1, next);
  };
  std::function<void()> while_computing;
  if (!sync && more) {
    if (device_.is_cuda()) {
      while_computing = prepare_next;
    } else {
      prepare_next();
      lap(&last, &times_.batch);
    }
  }
  const double loss =
      compute(cur, step, learning_rate(config_.train, step, total_steps_),
              data_.item_text_emb.empty() ? nullptr : data_.item_text_emb.data(), 0,
              while_computing);
  last = Clock::now();
  if (sync) {
    push_in_rank_order(cur);
    lap(&last, &times_.push);
  }
  if (config_.train.cache_sync_steps > 0 && trained_steps_ % config_.train.cache_sync_steps == 0) {
    sync_caches();
    lap(&last, &times_.cache_sync);
  } else if (user_cache_ && device_.is_cuda() &&
             trained_steps_ % RowCache::kCudaRefreshSteps == 0) {
    // Write-through on CUDA: the device's Adagrad rounds apart from the
    // server's, so the cached rows are re-read now and then (one rank).
    user_cache_->refresh();
    item_cache_->refresh();
    lap(&last, &times_.cache_sync);
  }
  ++times_.steps;
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
  if (config_.train.cache_sync_steps > 0 && trained_steps_ % config_.train.cache_sync_steps == 0) {
    sync_caches();
  }
  return loss;
}

void TrainStep::add_device_times() {
  if (!device_timer_ || !device_timer_->marked(kUpdated)) return;
  const kernels::StreamTimer& t = *device_timer_;
  times_.device_upload += t.seconds(kStart, kUploaded);
  times_.device_forward_backward += t.seconds(kUploaded, kModelDone);
  times_.device_download += t.seconds(kModelDone, kGradsBack);
  times_.device_update += t.seconds(kGradsBack, kUpdated);
  ++times_.device_steps;
  device_timer_->clear();
}

double TrainStep::compute(Slot& cur, int64_t step, double lr, const float* text_emb,
                          int64_t text_rows, const std::function<void()>& while_running) {
  const bool cuda = device_.is_cuda();
  add_device_times();  // the previous step's
  if (cuda) device_timer_->mark(kStart);
  auto last = Clock::now();
  const int64_t d = config_.model.dim;
  const auto users = static_cast<int64_t>(cur.batch.user_ids.size());
  const auto items = static_cast<int64_t>(cur.batch.item_ids.size());
  // Where the model reads the rows and writes their gradients.
  float* user_rows = cur.user_rows.data();
  float* item_rows = cur.item_rows.data();
  float* user_grads = cur.user_grads.data();
  float* item_grads = cur.item_grads.data();
  if (cuda) {
    user_rows = grow(device_, users * d, &staging_.user_rows);
    item_rows = grow(device_, items * d, &staging_.item_rows);
    user_grads = grow(device_, users * d, &staging_.user_grads);
    item_grads = grow(device_, items * d, &staging_.item_grads);
  }
  if (user_cache_) {
    user_cache_->assemble(cur.user_cached.slots.data(), users, cur.user_cached.miss_rows.data(),
                          user_rows);
    item_cache_->assemble(cur.item_cached.slots.data(), items, cur.item_cached.miss_rows.data(),
                          item_rows);
  } else if (cuda && tables_) {
    kernels::copy_to_device(device_, user_rows, cur.user_rows.data(),
                            cur.user_rows.size() * sizeof(float));
    kernels::copy_to_device(device_, item_rows, cur.item_rows.data(),
                            cur.item_rows.size() * sizeof(float));
  }

  HybridModel::StepInputs in;
  in.batch = &cur.batch;
  in.params = params_on_device();
  in.user_rows = user_rows;
  in.item_rows = item_rows;
  in.text_emb = text_emb;
  in.num_text_rows = text_rows;
  if (cuda && text_emb != nullptr) {
    if (text_emb == data_.item_text_emb.data()) {
      in.text_emb = text_.data();
    } else {  // online: the dataset's items and the new ones, as they stand
      const auto floats = static_cast<std::size_t>(text_rows * data_.text_dim);
      in.text_emb = grow(device_, static_cast<int64_t>(floats), &staging_.text);
      kernels::copy_to_device(device_, staging_.text.data(), text_emb, floats * sizeof(float));
    }
  }
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
    if (cuda && in.dropped_item_rows != nullptr) {
      float* up = grow(device_, static_cast<int64_t>(dropped_rows_.size()), &staging_.dropped);
      kernels::copy_to_device(device_, up, dropped_rows_.data(),
                              dropped_rows_.size() * sizeof(float));
      in.dropped_item_rows = up;
    }
  }
  if (cuda) device_timer_->mark(kUploaded);
  lap(&last, &times_.to_device);
  HybridModel::StepOutputs out;
  out.dense_grad = grad_on_device();
  out.user_row_grads = user_grads;
  out.item_row_grads = item_grads;
  out.grad_ready = [this](int64_t b, int64_t e) { buckets_.on_ready(b, e); };
  if (while_running) {
    out.while_running = [&] {  // its time counts as `batch`, not the model's
      lap(&last, &times_.forward_backward);
      while_running();
      lap(&last, &times_.batch);
    };
  }
  const double loss = model_.forward_backward(in, out);
  if (cuda) device_timer_->mark(kModelDone);
  if (cuda && tables_) {
    // The row gradients come back for the push (copy_to_host waits for the
    // backward).
    kernels::copy_to_host(device_, cur.user_grads.data(), user_grads,
                          cur.user_grads.size() * sizeof(float));
    kernels::copy_to_host(device_, cur.item_grads.data(), item_grads,
                          cur.item_grads.size() * sizeof(float));
  }
  if (cuda) device_timer_->mark(kGradsBack);
  lap(&last, &times_.forward_backward);
  if (user_cache_) {
    settle(*user_cache_, cur.batch.user_ids, user_grads, cur.user_grads, &cur.user_cached);
    settle(*item_cache_, cur.batch.item_ids, item_grads, cur.item_grads, &cur.item_cached);
  }
  lap(&last, &times_.optimizer);
  if (tables_ && !config_.train.sync) {
    send_evicted();
    cur.push = push(cur);
  }
  lap(&last, &times_.push);
  buckets_.finish(/*average=*/true);
  lap(&last, &times_.allreduce);
  adam_.step(static_cast<float>(lr), grad_on_device(), params_on_device());
  if (cuda) device_timer_->mark(kUpdated);
  lap(&last, &times_.optimizer);
  ++trained_steps_;
  return loss;
}

const std::vector<float>& TrainStep::params() const {
  if (device_.is_cuda()) {
    kernels::copy_to_host(device_, params_.data(), dev_params_.data(),
                          params_.size() * sizeof(float));
  }
  return params_;
}

void TrainStep::set_params(const std::vector<float>& params) {
  HYBREC_CHECK(params.size() == params_.size(), "TrainStep::set_params: ", params.size(),
               " values for ", params_.size(), " dense parameters");
  params_ = params;
  if (device_.is_cuda()) dev_params_.upload(params_);
}

SparseTables::Pending TrainStep::push(Slot& slot) {
  if (!user_cache_)
    return tables_->push(slot.batch, slot.user_grads.data(), slot.item_grads.data());
  return tables_->push(slot.user_cached.push_keys, slot.user_cached.push_grads.data(),
                       slot.item_cached.push_keys, slot.item_cached.push_grads.data());
}

// Every rank at once: each sends its changed rows' deltas, and once all have
// landed (the barrier) each re-reads its cached rows, so the caches agree
// with the servers and hold every rank's updates.
void TrainStep::sync_caches() {
  if (!user_cache_ || user_cache_->write_through() || synced_at_ == trained_steps_) return;
  for (auto& slot : slots_) slot.push.wait();
  // In sync mode one rank at a time, so every server adds the deltas in the
  // same order in every run (float adds do not commute).
  const bool ordered = config_.train.sync;
  for (int r = 0; r < (ordered ? comm_.size() : 1); ++r) {
    if (!ordered || r == comm_.rank()) {
      user_cache_->write_back();
      item_cache_->write_back();
    }
    if (ordered) comm_.barrier();
  }
  comm_.barrier();
  user_cache_->refresh();
  item_cache_->refresh();
  synced_at_ = trained_steps_;
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
      send_evicted();
      slot.push = push(slot);
      slot.push.wait();
    }
    comm_.barrier();
  }
}

void TrainStep::send_evicted() {
  if (!user_cache_) return;
  user_cache_->send_evicted();
  item_cache_->send_evicted();
}

void TrainStep::clear_caches() {
  if (!user_cache_) return;
  for (auto& slot : slots_) {
    slot.user_cached.held = false;
    slot.item_cached.held = false;
  }
  user_cache_->clear();
  item_cache_->clear();
}

void TrainStep::wait_pushes() {
  for (auto& slot : slots_) slot.push.wait();
  sync_caches();
}

void TrainStep::finish() {
  drain();
  sync_caches();
}

void TrainStep::drain() {
  for (auto& slot : slots_) {
    slot.push.wait();
    slot.pull.wait();
    // A batch prepared but never trained (the run stopped first) lets go of
    // its cache slots.
    if (user_cache_ && slot.user_cached.held) {
      user_cache_->release(slot.user_cached.slots.data(),
                           static_cast<int64_t>(slot.user_cached.slots.size()));
      item_cache_->release(slot.item_cached.slots.data(),
                           static_cast<int64_t>(slot.item_cached.slots.size()));
      slot.user_cached.held = slot.item_cached.held = false;
    }
  }
}

}  // namespace hybrec::trainer
