#include "trainer/loop/trainer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "hybrec/kernels/error.h"
#include "trainer/data/dataset.h"
#include "trainer/dist/grad_buckets.h"
#include "trainer/eval/evaluate.h"
#include "trainer/eval/model_scorer.h"
#include "trainer/loop/batch_builder.h"
#include "trainer/loop/examples.h"
#include "trainer/loop/lr_schedule.h"
#include "trainer/loop/run_log.h"
#include "trainer/loop/sparse_tables.h"
#include "trainer/loop/train_checkpoint.h"
#include "trainer/model/dense_adam.h"
#include "trainer/model/hybrid_model.h"

namespace hybrec::trainer {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// One batch in flight: its keys, pulled rows, row gradients and the
// requests that read or fill them.
struct StepSlot {
  Batch batch;
  std::vector<float> user_rows, item_rows, user_grads, item_grads;
  SparseTables::Pending pull, push;
};

int compute_threads(const TrainConfig& config, int local_ranks) {
  if (config.train.threads > 0) return static_cast<int>(config.train.threads);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, local_ranks));
}

class Run {
 public:
  explicit Run(const TrainSetup& setup)
      : setup_(setup),
        config_(setup.config),
        comm_(*setup.comm),
        rank0_(comm_.rank() == 0),
        data_(read_dataset(config_.data_path)),
        model_(model_config_for(config_, data_)),
        set_(make_training_set(data_)),
        sampler_(set_, config_.train.sampler, config_.train.popularity_alpha,
                 static_cast<uint64_t>(config_.train.seed)),
        builder_(set_, sampler_, config_.train.negatives, config_.model.history_len),
        log_(rank0_ ? (fs::path(setup.out_dir) / "metrics.jsonl").string() : std::string()),
        checkpoint_root_((fs::path(setup.out_dir) / "checkpoints").string()),
        ps_dir_(setup.ps_dir.empty() ? (fs::path(setup.out_dir) / "ps").string() : setup.ps_dir) {}

  TrainSummary run();

 private:
  void start_servers();
  void prepare(int64_t step, StepSlot& slot);
  double train_step(int64_t step, StepSlot& cur, StepSlot& next);
  void push_in_rank_order(StepSlot& slot);
  void checkpoint(int64_t step);
  void restore(const std::string& step_dir);
  bool validate(int64_t step);
  bool stop_requested();
  void fault_point(const char* where, int64_t step);
  void check_replicas(int64_t step);
  std::vector<EvalResult> evaluate_split(const std::string& split,
                                         const std::vector<EvalSubset>& subsets, int64_t max_users);

  const TrainSetup& setup_;
  const TrainConfig& config_;
  Communicator& comm_;
  const bool rank0_;
  Dataset data_;
  HybridModel model_;
  TrainingSet set_;
  NegativeSampler sampler_;
  BatchBuilder builder_;
  MetricsLog log_;
  std::string checkpoint_root_, ps_dir_;

  std::unique_ptr<LocalServers> local_servers_;
  std::unique_ptr<SparseTables> tables_;
  std::vector<float> params_, grad_;
  std::unique_ptr<DenseAdam> adam_;
  std::unique_ptr<GradBuckets> buckets_;  // over grad_, reused every step
  TrainerState state_;                    // best-so-far bookkeeping and what a checkpoint records
  int64_t steps_per_epoch_ = 0, total_steps_ = 0;
  int64_t order_epoch_ = -1;
  int64_t last_checkpoint_ = -1;
  std::vector<int64_t> order_;
  std::vector<int64_t> batch_examples_;
};

void Run::start_servers() {
  if (!config_.model.use_id) return;
  std::vector<ps::Endpoint> endpoints = setup_.endpoints;
  if (endpoints.empty()) {
    HYBREC_CHECK(comm_.size() == 1, comm_.size(),
                 " trainer ranks need shared parameter servers: add server ranks to the mpirun "
                 "command (-np P hybrec ps --mpi : ...) or pass --ps host:port,...");
    local_servers_ = std::make_unique<LocalServers>(static_cast<int>(config_.ps.local_shards),
                                                    ps_dir_, config_.ps.max_frame_mib << 20);
    endpoints = local_servers_->endpoints();
  }
  tables_ = std::make_unique<SparseTables>(endpoints, config_);
  tables_->create_tables();  // idempotent: every rank may create
}

void Run::prepare(int64_t step, StepSlot& slot) {
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
  const auto d = static_cast<std::size_t>(config_.model.dim);
  const std::size_t users = slot.batch.user_ids.size(), items = slot.batch.item_ids.size();
  slot.user_rows.resize(users * d);
  slot.item_rows.resize(items * d);
  slot.user_grads.resize(users * d);
  slot.item_grads.resize(items * d);
  if (tables_) slot.pull = tables_->pull(slot.batch, slot.user_rows.data(), slot.item_rows.data());
}

double Run::train_step(int64_t step, StepSlot& cur, StepSlot& next) {
  const bool sync = config_.train.sync;
  const bool more = step + 1 < total_steps_;
  cur.pull.wait();
  if (!sync && more) {
    // The next batch's pull overlaps this batch's compute (its rows may miss
    // this step's push: bounded staleness of one step).
    next.push.wait();
    prepare(step + 1, next);
  }
  HybridModel::StepInputs in;
  in.batch = &cur.batch;
  in.params = params_.data();
  in.user_rows = cur.user_rows.data();
  in.item_rows = cur.item_rows.data();
  in.text_emb = data_.item_text_emb.empty() ? nullptr : data_.item_text_emb.data();
  in.dropout_seed =
      mix64(static_cast<uint64_t>(config_.train.seed) * 0x9e37ULL + static_cast<uint64_t>(step));
  in.training = true;
  HybridModel::StepOutputs out;
  out.dense_grad = grad_.data();
  out.user_row_grads = cur.user_grads.data();
  out.item_row_grads = cur.item_grads.data();
  out.grad_ready = [this](int64_t b, int64_t e) { buckets_->on_ready(b, e); };
  const double loss = model_.forward_backward(in, out);
  if (tables_ && !sync) {
    cur.push = tables_->push(cur.batch, cur.user_grads.data(), cur.item_grads.data());
  }
  buckets_->finish(/*average=*/true);
  adam_->step(static_cast<float>(learning_rate(config_.train, step, total_steps_)), grad_.data(),
              params_.data());
  if (sync) {
    push_in_rank_order(cur);
    if (more) prepare(step + 1, next);
  }
  return loss;
}

// Sync mode's pushes: one rank at a time, in rank order, so every shard
// applies a step's row gradients in the same order in every run (the sparse
// optimizers' updates of a row do not commute in floating point) and the
// run is reproducible whatever the timing. The last barrier also completes
// every rank's push before any rank's next pull.
void Run::push_in_rank_order(StepSlot& slot) {
  if (!tables_) return;
  for (int r = 0; r < comm_.size(); ++r) {
    if (r == comm_.rank()) {
      slot.push = tables_->push(slot.batch, slot.user_grads.data(), slot.item_grads.data());
      slot.push.wait();
    }
    comm_.barrier();
  }
}

// Test hook for the recovery tests: HYBREC_FAULT=kill-in-checkpoint:STEP
// kills rank 0 while it writes step STEP's checkpoint, after the server
// snapshot and trainer.h5 but before `latest` moves (tests/cluster/faults_test.sh).
void Run::fault_point(const char* where, int64_t step) {
  static const char* fault = std::getenv("HYBREC_FAULT");
  if (fault == nullptr) return;
  if (std::string(fault) != std::string(where) + ":" + std::to_string(step)) return;
  std::fprintf(stderr, "hybrec train: HYBREC_FAULT=%s: killing this rank\n", fault);
  std::fflush(stderr);
  std::raise(SIGKILL);
}

void Run::checkpoint(int64_t step) {
  last_checkpoint_ = step;
  state_.step = step;
  state_.ranks = comm_.size();
  state_.ps_dir = ps_dir_;
  state_.ps_version = tables_ ? step : -1;
  if (tables_ && rank0_) tables_->save(step);
  if (rank0_) {
    state_.params = params_;
    state_.adam_m = adam_->m();
    state_.adam_v = adam_->v();
    state_.adam_step = adam_->steps();
    write_trainer_checkpoint(checkpoint_root_, state_, to_toml(config_));
    fault_point("kill-in-checkpoint", step);
    mark_latest(checkpoint_root_, step);
    log_.write({{"event", "checkpoint"},
                {"step", step},
                {"dir", (fs::path(checkpoint_root_) / step_dir_name(step)).string()}});
  }
  comm_.barrier();
}

void Run::restore(const std::string& step_dir) {
  TrainerState s = read_trainer_checkpoint(step_dir);
  HYBREC_CHECK(s.ranks == comm_.size(), "checkpoint ", step_dir, " was written by ", s.ranks,
               " trainer ranks; resume with the same number (got ", comm_.size(), ")");
  HYBREC_CHECK(static_cast<int64_t>(s.params.size()) == model_.num_params(), "checkpoint ",
               step_dir, " holds ", s.params.size(), " dense parameters; this model has ",
               model_.num_params(), " (a different model config?)");
  HYBREC_CHECK((s.ps_version >= 0) == (tables_ != nullptr), "checkpoint ", step_dir,
               s.ps_version >= 0 ? " has id tables but model.use_id is false"
                                 : " has no id tables but model.use_id is true");
  params_ = s.params;
  adam_->load_state(s.adam_m, s.adam_v, s.adam_step);
  if (tables_ && rank0_) tables_->load(s.ps_version);
  comm_.barrier();
  state_ = std::move(s);
}

std::vector<EvalResult> Run::evaluate_split(const std::string& split,
                                            const std::vector<EvalSubset>& subsets,
                                            int64_t max_users) {
  RowFetcher fetch = [this](const std::string& table, const int64_t* keys, int64_t n, float* out) {
    tables_->fetch(table, keys, n, out);
  };
  ModelScorer scorer(model_, params_.data(), data_, tables_ ? fetch : RowFetcher());
  return evaluate(data_, scorer, comm_, config_, split, subsets, max_users);
}

// Data parallelism keeps one model: every rank must hold bit-identical dense
// parameters. Checked at the end of a run (cheap: one broadcast) and logged,
// so a divergence is reported instead of silently averaged away.
void Run::check_replicas(int64_t step) {
  if (comm_.size() == 1) return;
  std::vector<float> reference = params_;
  comm_.broadcast(reference.data(), static_cast<int64_t>(reference.size() * sizeof(float)), 0);
  // [ranks that differ, sum over ranks of the largest difference] (0 iff all equal)
  double differing[2] = {0.0, 0.0};
  for (std::size_t i = 0; i < reference.size(); ++i) {
    if (std::memcmp(&reference[i], &params_[i], sizeof(float)) != 0) {
      differing[0] = 1.0;
      differing[1] =
          std::max(differing[1], static_cast<double>(std::fabs(reference[i] - params_[i])));
    }
  }
  comm_.allreduce_sum(differing, 2);
  const double ranks_differing = differing[0], max_diff = differing[1];
  if (rank0_) {
    log_.write({{"event", "replicas"},
                {"step", step},
                {"ranks", comm_.size()},
                {"identical", ranks_differing == 0.0},
                {"ranks_differing", ranks_differing},
                {"max_abs_diff_sum", max_diff}});
  }
  HYBREC_CHECK(ranks_differing == 0.0, ranks_differing,
               " trainer ranks hold dense parameters that differ from rank 0's at step ", step,
               " (sum of max abs differences ", max_diff, ")");
}

// Whether any rank was asked to stop by a signal. Every rank must stop after
// the same step (the checkpoint is collective), so they agree through one
// small all-reduce per step.
bool Run::stop_requested() {
  double asked = setup_.stop_signal != nullptr && setup_.stop_signal->load() != 0 ? 1.0 : 0.0;
  if (comm_.size() > 1) comm_.allreduce_sum(&asked, 1);
  return asked > 0.0;
}

// Validation on the warm valid split; returns whether training should stop.
bool Run::validate(int64_t step) {
  const auto results = evaluate_split("valid", {EvalSubset::kWarm}, config_.eval.max_users);
  if (results.empty()) return false;  // no validation events: nothing to early-stop on
  const EvalResult& r = results.front();
  log_.write(eval_event(r, step));
  if (r.ndcg > state_.best_metric) {
    state_.best_metric = r.ndcg;
    state_.best_step = step;
    state_.evals_since_best = 0;
    checkpoint(step);
    return false;
  }
  ++state_.evals_since_best;
  return config_.train.patience > 0 && state_.evals_since_best >= config_.train.patience;
}

TrainSummary Run::run() {
  omp_set_num_threads(compute_threads(config_, setup_.local_ranks));
  const int64_t W = comm_.size();
  steps_per_epoch_ =
      steps_per_epoch(static_cast<int64_t>(set_.examples.size()), W, config_.train.batch_size);
  HYBREC_CHECK(steps_per_epoch_ > 0, "dataset ", config_.data_path, " has ", set_.examples.size(),
               " training events, fewer than one step (", W, " ranks x train.batch_size ",
               config_.train.batch_size, ")");
  total_steps_ = config_.train.epochs * steps_per_epoch_;
  if (config_.train.max_steps > 0) total_steps_ = std::min(total_steps_, config_.train.max_steps);
  const int64_t eval_every =
      config_.train.eval_every > 0 ? config_.train.eval_every : steps_per_epoch_;

  start_servers();
  params_.resize(static_cast<std::size_t>(model_.num_params()));
  grad_.resize(params_.size());
  model_.init_params(static_cast<uint64_t>(config_.train.seed), params_.data());
  DenseAdamOptions adam_options;
  adam_options.weight_decay = static_cast<float>(config_.train.weight_decay);
  adam_options.max_norm = static_cast<float>(config_.train.clip_norm);
  adam_ = std::make_unique<DenseAdam>(model_.num_params(), adam_options);
  buckets_ = std::make_unique<GradBuckets>(comm_, grad_.data(), model_.num_params(),
                                           config_.train.bucket_kib << 10);

  int64_t step = 0;
  if (setup_.resume) {
    const std::string dir = latest_checkpoint(checkpoint_root_);
    HYBREC_CHECK(!dir.empty(), "--resume: no checkpoint in ", checkpoint_root_);
    restore(dir);
    step = state_.step;
  }
  Progress progress(total_steps_, config_.train.log_every_s, rank0_);
  if (rank0_) {
    log_.write({{"event", "start"},
                {"step", step},
                {"total_steps", total_steps_},
                {"ranks", W},
                {"batch_size", config_.train.batch_size},
                {"dense_params", model_.num_params()},
                {"resumed", setup_.resume},
                {"data", config_.data_path}});
  }

  StepSlot slots[2];
  if (step < total_steps_) prepare(step, slots[step % 2]);
  double train_seconds = 0.0, last_loss = 0.0;
  int64_t trained_steps = 0;
  bool stopped_early = false, interrupted = false, preempted = false;
  while (step < total_steps_) {
    const auto t0 = Clock::now();
    double loss = train_step(step, slots[step % 2], slots[(step + 1) % 2]);
    ++step;
    ++trained_steps;
    train_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    const double samples_per_s =
        static_cast<double>(trained_steps * config_.train.batch_size * W) / train_seconds;
    last_loss = loss;
    progress.update(step, samples_per_s, loss);

    const bool at_eval = step % eval_every == 0 || step == total_steps_;
    const bool at_checkpoint =
        config_.train.checkpoint_every > 0 && step % config_.train.checkpoint_every == 0;
    const bool at_signal = stop_requested();
    const bool at_stop =
        at_signal || (setup_.stop_after_steps > 0 && step >= setup_.stop_after_steps);
    if (!(at_eval || at_checkpoint || at_stop)) continue;
    for (auto& slot : slots) slot.push.wait();
    comm_.barrier();  // every rank's pushes applied before anyone reads the tables
    double mean_loss = loss;
    comm_.allreduce_sum(&mean_loss, 1);
    mean_loss /= static_cast<double>(W);
    last_loss = mean_loss;
    if (rank0_) {
      log_.write({{"event", "train"},
                  {"step", step},
                  {"loss", mean_loss},
                  {"lr", learning_rate(config_.train, step - 1, total_steps_)},
                  {"samples_per_s", samples_per_s}});
    }
    if (at_eval && validate(step)) {
      stopped_early = step < total_steps_;
      progress.note("early stopping at step " + std::to_string(step) +
                    ": no better validation in " + std::to_string(config_.train.patience) +
                    " evaluations");
      break;
    }
    if ((at_checkpoint || at_stop) && last_checkpoint_ != step) checkpoint(step);
    if (at_signal && rank0_) {
      const int signal = setup_.stop_signal->load();
      log_.write({{"event", "preempted"}, {"step", step}, {"signal", signal}});
      progress.note("signal " + std::to_string(signal) + ": checkpointed at step " +
                    std::to_string(step) + ", stopping");
    }
    if (at_stop && step < total_steps_) {
      interrupted = true;
      preempted = at_signal;
      break;
    }
  }
  for (auto& slot : slots) {
    slot.push.wait();
    slot.pull.wait();
  }
  progress.finish();
  check_replicas(step);

  TrainSummary summary;
  summary.steps = step;
  summary.last_loss = last_loss;
  summary.samples_per_s =
      train_seconds > 0
          ? static_cast<double>(trained_steps * config_.train.batch_size * W) / train_seconds
          : 0.0;
  if (rank0_ && trained_steps > 0) {
    log_.write({{"event", "throughput"},
                {"samples_per_s", summary.samples_per_s},
                {"ranks", W},
                {"steps", trained_steps},
                {"seconds", train_seconds}});
  }
  if (interrupted) {
    if (rank0_) progress.note("stopped after step " + std::to_string(step) + " (checkpointed)");
    summary.preempted = preempted;
    summary.params = params_;
    return summary;
  }
  // The model evaluated is the best validated one (early stopping's point).
  if (state_.best_step >= 0 && state_.best_step != step) {
    restore((fs::path(checkpoint_root_) / step_dir_name(state_.best_step)).string());
    if (rank0_) mark_latest(checkpoint_root_, state_.best_step);
  } else if (last_checkpoint_ != step) {
    checkpoint(step);
  }
  if (rank0_ && stopped_early)
    log_.write({{"event", "early_stop"}, {"step", step}, {"best_step", state_.best_step}});
  summary.test =
      evaluate_split("test", {EvalSubset::kWarm, EvalSubset::kCold, EvalSubset::kColdAll}, 0);
  if (rank0_) {
    for (const auto& r : summary.test)
      log_.write(eval_event(r, state_.best_step >= 0 ? state_.best_step : step));
  }
  summary.params = params_;
  return summary;
}

}  // namespace

ModelConfig model_config_for(const TrainConfig& config, const Dataset& data) {
  ModelConfig m = config.model;
  const bool needs_text = m.use_text || m.use_text_score;
  HYBREC_CHECK(!needs_text || data.text_dim > 0, "dataset ", config.data_path,
               " has no /items/text_emb, which model.use_text / model.use_text_score need");
  m.text_dim = data.text_dim;
  return m;
}

TrainSummary run_training(const TrainSetup& setup) {
  HYBREC_CHECK(setup.comm != nullptr, "run_training: no communicator");
  Run run(setup);
  return run.run();
}

}  // namespace hybrec::trainer
