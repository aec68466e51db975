// The training loop of one trainer rank (DESIGN.md "Processes and data flow"):
// read the dataset, build rank-strided batches with sampled negatives, pull
// the batch's id rows from the parameter server (the next batch's pull in
// flight while this one computes, unless sync), forward and backward on the
// kernels, push the row gradients, all-reduce the dense gradients in buckets
// overlapped with the backward, step Adam; validate, early-stop, checkpoint
// and finally evaluate on the test split. With stream.url set, the offline
// epochs are followed by online training on the stream's events (README
// "Online training").
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "parameter_server/client/client.h"
#include "trainer/data/dataset.h"
#include "trainer/dist/communicator.h"
#include "trainer/eval/evaluate.h"
#include "trainer/eval/ranking.h"
#include "trainer/loop/config.h"

namespace hybrec::trainer {

struct TrainSetup {
  TrainConfig config;
  std::string out_dir;                  // DIR: metrics.jsonl, checkpoints/, ps/
  std::vector<ps::Endpoint> endpoints;  // the servers, in shard order (model.use_id needs them)
  std::string ps_dir;                   // where the servers snapshot; "" = DIR/ps
  bool resume = false;                  // continue from DIR/checkpoints/latest
  // Start over in a DIR that holds an old run: once every check passed,
  // rank 0 discards the old run's state (run_dir.h discard_run_state).
  bool fresh = false;
  // Starts in-process parameter-server shards and returns their endpoints;
  // called once every check passed (so a failed start writes nothing, and
  // --fresh discards old snapshots before a shard could load them), when
  // `endpoints` is empty and the model has id tables. May be empty.
  std::function<std::vector<ps::Endpoint>()> start_servers;
  int64_t stop_after_steps = 0;  // > 0: checkpoint and stop after this many steps
                                 // (as if preempted; tests and demos)
  // Non-zero (the signal's number) once this process was asked to stop:
  // every rank then checkpoints after the same step and the run returns
  // (preemption: scancel, Slurm's --signal, hybrec-launch's forwarding).
  const std::atomic<int>* stop_signal = nullptr;
  Communicator* comm = nullptr;
  int local_ranks = 1;  // processes on this machine (thread default)
  // This rank's place among the trainer ranks on its machine: with
  // train.device = "cuda" it trains on visible GPU local_trainer_rank % GPUs.
  int local_trainer_rank = 0;
  // With train.device = "cuda" on several ranks: the communicator of the
  // dense gradients, over device memory (NCCL, made by the launcher on that
  // GPU); nullptr = comm.
  Communicator* grad_comm = nullptr;
  // Called on rank 0 once a checkpoint's files (trainer.h5, the server
  // snapshot) are written and before checkpoints/latest moves to it; may be
  // empty. The recovery tests kill the rank here (launch/fault_injection.h).
  std::function<void(int64_t step)> before_latest_moves;
};

struct TrainSummary {
  int64_t steps = 0;             // steps completed in total
  double last_loss = 0.0;        // mean loss over the ranks of the last step
  double samples_per_s = 0.0;    // training examples per second, all ranks
  std::vector<EvalResult> test;  // empty when stopped by stop_after_steps or a signal
  bool preempted = false;        // stopped by stop_signal (checkpointed; resume continues)
  std::vector<float> params;     // final dense parameters of this rank
  // Online training (stream.url): events trained in all (across resumes),
  // the position of the last one, and the prequential hit rate at
  // stream.prequential_k over this process's events (-1: not measured).
  int64_t stream_events = 0;
  uint64_t stream_position = 0;
  double prequential_hr = -1.0;
};

// Trains as `setup` says. Everything is checked before anything is written
// (the config against the dataset, the memory the model needs, the
// checkpoint to resume): a failed start leaves DIR as it was. Then rank 0
// writes DIR/config.toml (paths as run_dir.h records them).
TrainSummary run_training(const TrainSetup& setup);

// The model config for this dataset: the config's [model] with the dataset's
// text dimension; throws when the model needs text the dataset lacks.
ModelConfig model_config_for(const TrainConfig& config, const Dataset& data);

// The evaluation options of a run's config (eval.k, eval.auc_negatives,
// model.history_len, train.seed).
EvalSettings eval_settings_for(const TrainConfig& config);

}  // namespace hybrec::trainer
