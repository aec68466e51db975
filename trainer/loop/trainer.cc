#include "trainer/loop/trainer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <thread>

#include "hybrec/kernels/error.h"
#include "parameter_server/storage/atomic_file.h"
#include "trainer/data/dataset.h"
#include "trainer/data/time_order.h"
#include "trainer/eval/evaluate.h"
#include "trainer/eval/model_scorer.h"
#include "trainer/loop/examples.h"
#include "trainer/loop/item_text_encoder.h"
#include "trainer/loop/lr_schedule.h"
#include "trainer/loop/memory_plan.h"
#include "trainer/loop/online_phase.h"
#include "trainer/loop/run_dir.h"
#include "trainer/loop/run_log.h"
#include "trainer/loop/sparse_tables.h"
#include "trainer/loop/train_checkpoint.h"
#include "trainer/loop/train_step.h"
#include "trainer/model/hybrid_model.h"
#include "trainer/stream/event_source.h"

namespace hybrec::trainer {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// 16 hex digits from the OS's entropy: a fresh run's snapshot namespace.
std::string new_run_id() {
  std::random_device entropy;
  char id[24];
  std::snprintf(id, sizeof id, "r%08x%08x", entropy(), entropy());
  return id;
}

int compute_threads(const TrainConfig& config, int local_ranks) {
  if (config.train.threads > 0) return static_cast<int>(config.train.threads);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, local_ranks));
}

// The device the step runs on (train.device). A CUDA rank takes visible GPU
// local_trainer_rank % GPUs: one rank per GPU when as many trainers as GPUs
// run on a machine (CUDA_VISIBLE_DEVICES narrows what is visible).
kernels::Device training_device(const TrainConfig& config, int local_trainer_rank) {
  if (config.train.device == TrainDevice::kCpu) return kernels::Device::cpu();
  HYBREC_CHECK(kernels::cuda_compiled(), "config ", config.source,
               ": train.device = \"cuda\", but this build has no CUDA backend (build where nvcc "
               "is on PATH: cmake --preset release, or scripts/test.sh)");
  const int gpus = kernels::cuda_device_count();
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  HYBREC_CHECK(gpus > 0, "config ", config.source,
               ": train.device = \"cuda\", but no CUDA device is visible (CUDA_VISIBLE_DEVICES=",
               visible != nullptr ? visible : "(unset)", ")");
  kernels::cuda_set_device(local_trainer_rank % gpus);
  return kernels::Device::cuda();
}

// FNV-1a over the bytes of the dense parameters: two runs that end with
// bit-identical parameters log the same value.
std::string fingerprint(const std::vector<float>& params) {
  uint64_t h = 0xcbf29ce484222325ULL;
  const auto* bytes = reinterpret_cast<const unsigned char*>(params.data());
  for (std::size_t i = 0; i < params.size() * sizeof(float); ++i) {
    h = (h ^ bytes[i]) * 0x100000001b3ULL;
  }
  char hex[20];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

// Offline training's events end at data.before_time_quantile (all at 1).
int64_t offline_cut(const TrainConfig& config, const Dataset& data) {
  if (config.before_time_quantile >= 1.0) return std::numeric_limits<int64_t>::max();
  return time_quantile(data, config.before_time_quantile);
}

// file:PATH with PATH absolute (a run records the stream it read, and a
// resumed one compares), other URLs as given.
std::string resolve_stream_url(const std::string& url) {
  if (url.rfind("file:", 0) != 0 || url.size() == 5) return url;
  return "file:" + fs::absolute(url.substr(5)).lexically_normal().string();
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
        train_model_(model_config_for(config_, data_),
                     training_device(config_, setup.local_trainer_rank)),
        set_(make_training_set(data_, offline_cut(config_, data_))),
        log_(std::string()),
        checkpoint_root_((fs::path(setup.out_dir) / "checkpoints").string()),
        ps_dir_(setup.ps_dir.empty() ? (fs::path(setup.out_dir) / "ps").string() : setup.ps_dir),
        ps_run_(new_run_id()),
        stream_url_(resolve_stream_url(config_.stream.url)) {}

  TrainSummary run();

 private:
  void start_tables();
  void start_run_dir();
  void checkpoint(int64_t step);
  std::vector<int64_t> retain(int64_t step);
  void restore(const std::string& step_dir);
  bool validate(int64_t step);
  bool rewind_on_restart() const {
    return tables_ != nullptr && config_.ps.on_restart == OnRestart::kRewind;
  }
  bool agree(bool* stop = nullptr);
  int64_t rewind(int64_t step, Progress& progress);
  std::unique_ptr<TrainStep> make_step() {
    return std::make_unique<TrainStep>(config_, comm_, data_, train_model_, set_, tables_.get(),
                                       steps_per_epoch_, total_steps_, setup_.grad_comm);
  }
  void check_replicas(int64_t step);
  bool streaming() const { return !stream_url_.empty(); }
  void stream(int64_t& step, Progress& progress, TrainSummary& summary);
  std::vector<EvalResult> evaluate_split(const std::string& split,
                                         const std::vector<EvalSubset>& subsets, int64_t max_users);

  const TrainSetup& setup_;
  const TrainConfig& config_;
  Communicator& comm_;
  const bool rank0_;
  Dataset data_;
  HybridModel model_;        // on the CPU: evaluation, prequential scoring
  HybridModel train_model_;  // on train.device: the step
  TrainingSet set_;
  MetricsLog log_;
  std::string checkpoint_root_, ps_dir_;
  // The namespace of this run's snapshots on the servers: new for a fresh
  // run, the checkpoint's on resume (rank 0 saves and loads).
  std::string ps_run_;
  std::vector<int64_t> saved_steps_;  // snapshot versions kept so far, oldest first
  std::vector<ps::Endpoint> endpoints_;

  std::unique_ptr<SparseTables> tables_;
  std::unique_ptr<TrainStep> step_;
  TrainerState state_;  // best-so-far bookkeeping and what a checkpoint records
  MemoryPlan memory_plan_;
  int64_t steps_per_epoch_ = 0, total_steps_ = 0;
  int64_t last_checkpoint_ = -1;
  // ps.on_restart = "rewind": the shards some rank saw restarted, as the
  // last agreement found them, and the rewinds done so far.
  std::vector<int> restarted_;
  int64_t rewinds_ = 0;
  std::vector<double> flags_;  // agree()'s all-reduce buffer
  std::string stream_url_;     // stream.url, resolved; "" = no online phase
  ItemTextEncoder item_encoder_;
};

void Run::start_tables() {
  if (!config_.model.use_id) return;
  endpoints_ = setup_.endpoints;
  if (endpoints_.empty() && setup_.start_servers) endpoints_ = setup_.start_servers();
  HYBREC_CHECK(!endpoints_.empty(),
               "run_training: model.use_id needs parameter servers (TrainSetup::endpoints)");
  tables_ = std::make_unique<SparseTables>(endpoints_, config_);
  tables_->create_tables();  // idempotent: every rank may create
}

// A checkpoint is consistent when every shard's snapshot holds every push
// up to `step`: under ps.on_restart = "rewind", a restart that any rank saw
// (a push lost, or the snapshot refused) leaves `latest` where it was and
// restarted_ set for the caller to rewind.
void Run::checkpoint(int64_t step) {
  step_->wait_pushes();  // the row caches' updates reach the snapshot (a no-op when synced)
  state_.step = step;
  state_.ranks = comm_.size();
  state_.ps_dir = ps_dir_;
  state_.ps_run = ps_run_;
  state_.ps_version = tables_ ? step : -1;
  if (tables_ && rank0_) tables_->save(ps_run_, step);
  if (rewind_on_restart() && agree()) return;  // not saved everywhere: no checkpoint
  last_checkpoint_ = step;
  const std::vector<int64_t> keep = retain(step);
  if (rank0_) {
    state_.params = step_->params();
    state_.adam_m = step_->adam().m();
    state_.adam_v = step_->adam().v();
    state_.adam_step = step_->adam().steps();
    write_trainer_checkpoint(checkpoint_root_, state_,
                             to_toml(config_for_run_dir(config_, setup_.out_dir)));
    if (setup_.before_latest_moves) setup_.before_latest_moves(step);
    mark_latest(checkpoint_root_, step);
    if (state_.best_step == step) mark_best(checkpoint_root_, step);
    if (tables_) tables_->prune(ps_run_, keep);
    prune_trainer_checkpoints(checkpoint_root_, keep);
    log_.write({{"event", "checkpoint"},
                {"step", step},
                {"dir", (fs::path(checkpoint_root_) / step_dir_name(step)).string()}});
  }
  comm_.barrier();
}

// Records checkpoint `step` as saved and returns the steps retention keeps:
// the last train.keep_checkpoints (`latest` among them) and the best
// validated one (the one a finished run reloads). The others' server
// snapshots and trainer step directories are deleted.
std::vector<int64_t> Run::retain(int64_t step) {
  saved_steps_.erase(std::remove(saved_steps_.begin(), saved_steps_.end(), step),
                     saved_steps_.end());
  saved_steps_.push_back(step);
  const auto keep_last = static_cast<size_t>(config_.train.keep_checkpoints);
  if (saved_steps_.size() > keep_last) {
    saved_steps_.erase(saved_steps_.begin(),
                       saved_steps_.end() - static_cast<std::ptrdiff_t>(keep_last));
  }
  std::vector<int64_t> keep = saved_steps_;
  if (state_.best_step >= 0) keep.push_back(state_.best_step);
  return keep;
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
  step_->set_params(s.params);
  step_->adam().load_state(s.adam_m, s.adam_v, s.adam_step);
  step_->clear_caches();  // the servers' rows are about to be the snapshot's
  if (tables_ && rank0_) {
    HYBREC_CHECK(!s.ps_run.empty(), "checkpoint ", step_dir,
                 " predates run-namespaced snapshots (it has no ps_run); this server keeps them "
                 "under runs/<run>/ and cannot load it");
    ps_run_ = s.ps_run;
    tables_->load(ps_run_, s.ps_version);
    if (std::find(saved_steps_.begin(), saved_steps_.end(), s.ps_version) == saved_steps_.end()) {
      saved_steps_.push_back(s.ps_version);
    }
  }
  comm_.barrier();
  state_ = std::move(s);
}

// The run directory's first writes, after every check: DIR/config.toml
// (what the run records: see run_dir.h) and the metrics log.
void Run::start_run_dir() {
  if (!rank0_) return;
  fs::create_directories(setup_.out_dir);
  const std::string toml = to_toml(config_for_run_dir(config_, setup_.out_dir));
  storage::write_atomically((fs::path(setup_.out_dir) / "config.toml").string(),
                            [&](const std::string& temp) {
                              std::ofstream out(temp);
                              out << toml;
                              out.flush();
                              HYBREC_CHECK(out.good(), "run directory ", setup_.out_dir,
                                           ": cannot write config.toml");
                            },
                            "run config");
  log_ = MetricsLog((fs::path(setup_.out_dir) / "metrics.jsonl").string());
}

std::vector<EvalResult> Run::evaluate_split(const std::string& split,
                                            const std::vector<EvalSubset>& subsets,
                                            int64_t max_users) {
  RowFetcher fetch = [this](const std::string& table, const int64_t* keys, int64_t n, float* out) {
    tables_->fetch(table, keys, n, out);
  };
  ModelScorer scorer(model_, step_->params().data(), data_, tables_ ? fetch : RowFetcher());
  return evaluate(data_, scorer, comm_, eval_settings_for(config_), split, subsets, max_users);
}

// Data parallelism keeps one model: every rank must hold bit-identical dense
// parameters. Checked at the end of a run (cheap: one broadcast) and logged,
// so a divergence is reported instead of silently averaged away.
void Run::check_replicas(int64_t step) {
  if (comm_.size() == 1) return;
  const std::vector<float>& params = step_->params();
  std::vector<float> reference = params;
  comm_.broadcast(reference.data(), static_cast<int64_t>(reference.size() * sizeof(float)), 0);
  // [ranks that differ, sum over ranks of the largest difference] (0 iff all equal)
  double differing[2] = {0.0, 0.0};
  for (std::size_t i = 0; i < reference.size(); ++i) {
    if (std::memcmp(&reference[i], &params[i], sizeof(float)) != 0) {
      differing[0] = 1.0;
      differing[1] =
          std::max(differing[1], static_cast<double>(std::fabs(reference[i] - params[i])));
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

// What every rank knows, summed over the ranks in one small all-reduce (none
// on one rank): whether any was asked to stop by a signal (*stop, when
// given) and, under ps.on_restart = "rewind", which shards any saw restarted
// (into restarted_). The ranks call it at the same points (after every step,
// after a validation, in a checkpoint), so they all take the same decision
// there: every rank stops after the same step (the checkpoint is
// collective), and every rank rewinds at the same point even when one alone
// met the restart. Returns whether a shard restarted.
bool Run::agree(bool* stop) {
  const int shards = rewind_on_restart() ? tables_->num_shards() : 0;
  flags_.assign(static_cast<std::size_t>(1 + shards), 0.0);
  if (stop != nullptr && setup_.stop_signal != nullptr && setup_.stop_signal->load() != 0) {
    flags_[0] = 1.0;
  }
  if (shards > 0) {
    for (int s : tables_->restarted_shards()) flags_[static_cast<std::size_t>(1 + s)] = 1.0;
  }
  if (comm_.size() > 1) comm_.allreduce_sum(flags_.data(), static_cast<int64_t>(flags_.size()));
  if (stop != nullptr) *stop = flags_[0] > 0.0;
  restarted_.clear();
  for (int s = 0; s < shards; ++s) {
    if (flags_[static_cast<std::size_t>(1 + s)] > 0.0) restarted_.push_back(s);
  }
  return !restarted_.empty();
}

// Every rank, at the same point (an agreement that found restarted_): waits
// for every request in flight, then goes back to checkpoints/latest as a
// resumed run would (a fresh TrainStep, that checkpoint's dense state and
// bookkeeping, and its snapshot loaded on every shard by rank 0 once every
// rank adopted the shards' new incarnations). Returns the step to continue
// from. Past ps.max_rewinds it throws, naming the shards.
int64_t Run::rewind(int64_t step, Progress& progress) {
  std::string shards;
  for (int s : restarted_) shards += (shards.empty() ? "" : ", ") + tables_->describe_shard(s);
  step_->drain();
  HYBREC_CHECK(rewinds_ < config_.ps.max_rewinds, "parameter server ", shards,
               " restarted (seen at step ", step,
               "): it lost every update since its last checkpoint; ps.on_restart = \"rewind\" "
               "already rewound ",
               rewinds_, " times, the limit ps.max_rewinds");
  const std::string dir = latest_checkpoint(checkpoint_root_);
  HYBREC_CHECK(!dir.empty(), "parameter server ", shards, " restarted (seen at step ", step,
               "): no checkpoint in ", checkpoint_root_, " to rewind to");
  ++rewinds_;
  comm_.barrier();  // every rank's requests settled before the shards are loaded
  tables_->accept_restarts();
  step_.reset();  // the old step's device memory goes before the new one's
  step_ = make_step();
  restore(dir);
  last_checkpoint_ = state_.step;
  if (rank0_) {
    nlohmann::json restarted = nlohmann::json::array();
    for (int s : restarted_) restarted.push_back(s);
    log_.write({{"event", "rewind"},
                {"step", step},
                {"to_step", state_.step},
                {"shards", restarted},
                {"rewind", rewinds_},
                {"max_rewinds", config_.ps.max_rewinds}});
    progress.note("parameter server " + shards + " restarted (seen at step " +
                  std::to_string(step) + "): every rank rewinds to " + dir + " (step " +
                  std::to_string(state_.step) + "), rewind " + std::to_string(rewinds_) +
                  " of at most " + std::to_string(config_.ps.max_rewinds));
  }
  restarted_.clear();
  step_->begin(state_.step);
  return state_.step;
}

// Validation on the warm valid split; returns whether training should stop.
bool Run::validate(int64_t step) {
  const auto results = evaluate_split("valid", {EvalSubset::kWarm}, config_.eval.max_users);
  // Rows of a restarted shard went into these results: the caller rewinds.
  if (rewind_on_restart() && agree()) return false;
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

// The online phase (online_phase.h) with this run's checkpoints and
// agreement on signals.
void Run::stream(int64_t& step, Progress& progress, TrainSummary& summary) {
  OnlineRun online{config_, comm_, set_, model_, *step_, tables_.get(), log_, progress, stream_url_,
                   setup_.out_dir, ps_run_, item_encoder_,
                   // The schedule's last learning rate: online steps go on where it ended.
                   total_steps_ > 0 ? learning_rate(config_.train, total_steps_ - 1, total_steps_)
                                    : config_.train.lr,
                   setup_.stop_signal,
                   [this] {
                     bool signalled = false;
                     agree(&signalled);
                     return signalled;
                   },
                   [this](int64_t at_step, const StreamProgress& at) {
                     state_.stream_position = static_cast<int64_t>(at.position);
                     state_.stream_events = at.events;
                     state_.stream_new_items = at.new_items;
                     state_.catalogue_items = at.catalogue_items;
                     // An online run stands for its newest model: `best`
                     // (what `hybrec eval RUN` loads) follows it.
                     state_.best_step = at_step;
                     checkpoint(at_step);
                   }};
  StreamProgress resumed;
  resumed.position = static_cast<uint64_t>(state_.stream_position);
  resumed.events = state_.stream_events;
  resumed.new_items = state_.stream_new_items;
  resumed.catalogue_items = state_.catalogue_items;
  const OnlineResult result = run_online(online, resumed, step);
  if (result.preempted && rank0_) {
    log_.write({{"event", "preempted"}, {"step", step}, {"signal", setup_.stop_signal->load()}});
  }
  summary.preempted = result.preempted;
  // The last micro-batch's loss stands for the run's once one was trained.
  if (config_.stream.learn && result.end.events > resumed.events) {
    summary.last_loss = result.last_loss;
  }
  summary.stream_events = result.end.events;
  summary.stream_position = result.end.position;
  summary.prequential_hr = result.prequential_hr;
}

TrainSummary Run::run() {
  omp_set_num_threads(compute_threads(config_, setup_.local_ranks));
  const int64_t W = comm_.size();
  steps_per_epoch_ =
      steps_per_epoch(static_cast<int64_t>(set_.examples.size()), W, config_.train.batch_size);
  HYBREC_CHECK(config_.train.epochs > 0 || streaming(), "config ", config_.source,
               ": train.epochs = 0 trains nothing without a stream (stream.url or --stream)");
  HYBREC_CHECK(steps_per_epoch_ > 0 || config_.train.epochs == 0, "dataset ", config_.data_path,
               " has ", set_.examples.size(), " training events, fewer than one step (", W,
               " ranks x train.batch_size ", config_.train.batch_size, ")");
  total_steps_ = config_.train.epochs * steps_per_epoch_;
  if (config_.train.max_steps > 0) total_steps_ = std::min(total_steps_, config_.train.max_steps);
  const int64_t eval_every = std::max<int64_t>(
      1, config_.train.eval_every > 0 ? config_.train.eval_every : steps_per_epoch_);

  const bool local_rows = setup_.endpoints.empty() && static_cast<bool>(setup_.start_servers);
  memory_plan_ = plan_training_memory(config_, model_, data_, config_.model.use_id && local_rows);
  check_memory_plan(memory_plan_, train_model_.device(), config_.train.device_memory_mib);
  HYBREC_CHECK(!train_model_.device().is_cuda() || W == 1 || setup_.grad_comm != nullptr,
               "train.device = \"cuda\" on ", W,
               " trainer ranks needs an NCCL communicator for the dense gradients; this build "
               "has none (NCCL was not found when it was configured)");
  std::string resume_dir;
  if (setup_.resume) {
    resume_dir = latest_checkpoint(checkpoint_root_);
    HYBREC_CHECK(!resume_dir.empty(), "--resume: no checkpoint in ", checkpoint_root_);
  }
  if (streaming()) {
    if (setup_.resume) {
      const std::string recorded = read_trainer_checkpoint(resume_dir).stream_url;
      HYBREC_CHECK(recorded.empty() || recorded == stream_url_, "--resume: checkpoint ", resume_dir,
                   " was trained on stream ", recorded, "; this run reads ", stream_url_,
                   " (a position in one stream means nothing in another)");
    }
    item_encoder_ = make_item_text_encoder(data_, config_.stream.text_model);
    // A stream that cannot be read fails the start, not the end of the epochs.
    if (rank0_) open_event_source(stream_url_, EventSourceOptions{});
  }
  // Every check above passed: only now may the old run go (--fresh) and
  // in-process shards start (they would load an old snapshot).
  if (setup_.fresh && rank0_) discard_run_state(setup_.out_dir, ps_dir_);
  if (setup_.fresh) comm_.barrier();
  start_tables();
  step_ = make_step();

  int64_t step = 0;
  if (setup_.resume) {
    restore(resume_dir);
    step = state_.step;
    last_checkpoint_ = step;  // what it resumed from needs no second copy
  }
  if (streaming()) state_.stream_url = stream_url_;
  start_run_dir();
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
    nlohmann::json parts = nlohmann::json::array();
    for (const auto& p : memory_plan_.parts) {
      parts.push_back(
          {{"name", p.name}, {"key", p.key}, {"bytes", p.bytes}, {"on_device", p.on_device}});
    }
    log_.write({{"event", "memory_plan"},
                {"device", kernels::backend_name(train_model_.device().backend)},
                {"parts", parts},
                {"total_bytes", memory_plan_.total_bytes()},
                {"device_bytes", memory_plan_.device_bytes()}});
    progress.note("memory plan per trainer rank, on " +
                  std::string(kernels::backend_name(train_model_.device().backend)) + ":\n" +
                  memory_plan_.describe());
  }
  // A rewind needs a checkpoint to go back to, from the first step on.
  if (rewind_on_restart() && !setup_.resume) checkpoint(0);
  if (rewind_on_restart()) tables_->set_restart_policy(RestartPolicy::kRecord);

  step_->begin(step);
  double train_seconds = 0.0, last_loss = 0.0;
  int64_t trained_steps = 0;
  bool stopped_early = false, interrupted = false, preempted = false;
  const kernels::Backend backend = train_model_.device().backend;
  const int64_t buffers_before = kernels::buffer_bytes_in_use(backend);
  while (step < total_steps_) {
    const auto t0 = Clock::now();
    const double loss = step_->run(step);
    ++step;
    ++trained_steps;
    if (trained_steps == 1 && rank0_) {
      // The step's buffers grow to the batch at the first step and stay.
      log_.write(
          {{"event", "memory"},
           {"step", step},
           {"planned_activation_bytes", memory_plan_.find(kActivationsPart)->bytes},
           {"measured_activation_bytes", kernels::buffer_bytes_in_use(backend) - buffers_before}});
    }
    train_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    const double samples_per_s =
        static_cast<double>(trained_steps * config_.train.batch_size * W) / train_seconds;
    last_loss = loss;
    progress.update(step, samples_per_s, loss);

    const bool at_eval = step % eval_every == 0 || step == total_steps_;
    const bool at_checkpoint =
        config_.train.checkpoint_every > 0 && step % config_.train.checkpoint_every == 0;
    bool at_signal = false;
    if (agree(&at_signal)) {
      step = rewind(step, progress);
      continue;
    }
    const bool at_stop =
        at_signal || (setup_.stop_after_steps > 0 && step >= setup_.stop_after_steps);
    if (!(at_eval || at_checkpoint || at_stop)) continue;
    step_->wait_pushes();
    comm_.barrier();  // every rank's pushes applied before anyone reads the tables
    double mean_loss = loss;
    comm_.allreduce_sum(&mean_loss, 1);
    mean_loss /= static_cast<double>(W);
    last_loss = mean_loss;
    if (rank0_) {
      nlohmann::json event = {{"event", "train"},
                              {"step", step},
                              {"loss", mean_loss},
                              {"lr", learning_rate(config_.train, step - 1, total_steps_)},
                              {"samples_per_s", samples_per_s}};
      const StepBreakdown& t = step_->breakdown();
      // Rank 0's mean milliseconds per step since the last train event.
      const double ms = t.steps > 0 ? 1000.0 / static_cast<double>(t.steps) : 0;
      if (t.steps > 0) {
        event["step_ms"] = {
            {"pull", t.pull * ms},           {"batch", t.batch * ms},
            {"to_device", t.to_device * ms}, {"forward_backward", t.forward_backward * ms},
            {"allreduce", t.allreduce * ms}, {"optimizer", t.optimizer * ms},
            {"push", t.push * ms},           {"cache_sync", t.cache_sync * ms},
            {"total", t.total() * ms}};
      }
      if (t.device_steps > 0 && t.steps > 0) {
        // The GPU's own clock over the same window (CUDA events).
        const double dms = 1000.0 / static_cast<double>(t.device_steps);
        event["device_ms"] = {{"upload", t.device_upload * dms},
                              {"forward_backward", t.device_forward_backward * dms},
                              {"download", t.device_download * dms},
                              {"update", t.device_update * dms},
                              {"total", t.device_total() * dms}};
        event["device_share"] = t.device_total() * dms / (t.total() * ms);
      }
      step_->reset_breakdown();
      if (step_->user_cache() != nullptr) {
        // This rank's (rank 0's) counters since the start.
        event["cache_hit_rate_user"] = step_->user_cache()->stats().hit_rate();
        event["cache_hit_rate_item"] = step_->item_cache()->stats().hit_rate();
      }
      log_.write(event);
    }
    const bool stop_early = at_eval && validate(step);
    if (!restarted_.empty()) {
      step = rewind(step, progress);
      continue;
    }
    if (stop_early) {
      stopped_early = step < total_steps_;
      progress.note("early stopping at step " + std::to_string(step) +
                    ": no better validation in " + std::to_string(config_.train.patience) +
                    " evaluations");
      break;
    }
    if ((at_checkpoint || at_stop) && last_checkpoint_ != step) checkpoint(step);
    if (!restarted_.empty()) {
      step = rewind(step, progress);
      continue;
    }
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
  step_->finish();
  if (tables_) {
    // Past the loop a restart stops the run whatever ps.on_restart says
    // (the agreements above saw none; this is the last requests' view).
    tables_->set_restart_policy(RestartPolicy::kThrow);
    HYBREC_CHECK(tables_->restarted_shards().empty(), tables_->restart_message());
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
    summary.params = step_->params();
    return summary;
  }
  if (streaming()) {
    // Online training goes on from the last offline step, not from the best
    // validated one: its checkpoints follow that step's.
    if (last_checkpoint_ != step) checkpoint(step);
    stream(step, progress, summary);
    summary.steps = step;
    if (summary.preempted) {
      summary.params = step_->params();
      return summary;
    }
  } else if (state_.best_step >= 0 && state_.best_step != step) {
    // `latest` stays at the newest checkpoint (it never moves back);
    // `best` already names this one.
    restore((fs::path(checkpoint_root_) / step_dir_name(state_.best_step)).string());
  } else if (last_checkpoint_ != step) {
    checkpoint(step);
  }
  if (rank0_ && stopped_early)
    log_.write({{"event", "early_stop"}, {"step", step}, {"best_step", state_.best_step}});
  const int64_t result_step = state_.best_step >= 0 && !streaming() ? state_.best_step : step;
  if (rank0_) {
    log_.write({{"event", "params"},
                {"step", result_step},
                {"dense_fnv1a", fingerprint(step_->params())}});
  }
  summary.test =
      evaluate_split("test", {EvalSubset::kWarm, EvalSubset::kCold, EvalSubset::kColdAll}, 0);
  if (rank0_) {
    for (const auto& r : summary.test) log_.write(eval_event(r, result_step));
  }
  summary.params = step_->params();
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

EvalSettings eval_settings_for(const TrainConfig& config) {
  EvalSettings options;
  options.k = config.eval.k;
  options.auc_negatives = config.eval.auc_negatives;
  options.history_len = config.model.history_len;
  options.seed = static_cast<uint64_t>(config.train.seed);
  return options;
}

TrainSummary run_training(const TrainSetup& setup) {
  HYBREC_CHECK(setup.comm != nullptr, "run_training: no communicator");
  Run run(setup);
  return run.run();
}

}  // namespace hybrec::trainer
