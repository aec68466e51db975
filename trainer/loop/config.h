// The training configuration: one TOML file with the tables [data], [model],
// [train], [eval], [ps], [stream] and [rerank], plus `--set section.key=value` overrides.
//
// Every key has a type and a default (see config.cc's key table, the one
// place they are listed). A key the table does not know, a value of the
// wrong type or out of range is an error naming the file, the key and the
// value, e.g. "config runs/x.toml: unknown key 'model.dimm'".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/model/model_config.h"

namespace hybrec::trainer {

enum class Sampler { kUniform, kPopularity };
enum class Decay { kNone, kLinear, kCosine };
enum class SparseOptimizer { kRowwiseAdagrad, kAdam };
enum class OnRestart { kStop, kRewind };
enum class TrainDevice { kCpu, kCuda };

struct TrainOptions {
  int64_t batch_size = 256;  // examples per rank per step
  int64_t negatives = 16;    // sampled negatives per example (C = 1 + negatives)
  Sampler sampler = Sampler::kUniform;
  double popularity_alpha = 0.75;  // popularity sampler: P(j) ~ train_count(j)^alpha
  int64_t epochs = 3;
  int64_t max_steps = 0;  // 0 = epochs decide
  int64_t seed = 1;
  double lr = 0.003;  // dense Adam
  double weight_decay = 0.0;
  int64_t warmup_steps = 100;
  Decay decay = Decay::kCosine;
  double min_lr_ratio = 0.1;
  double clip_norm = 1.0;  // global-norm clipping of dense gradients; 0 = off
  SparseOptimizer sparse_optimizer = SparseOptimizer::kRowwiseAdagrad;
  double sparse_lr = 0.05;
  double sparse_init_scale = 0.05;
  bool sync = false;             // pushes in rank order, then a barrier: reproducible runs
  int64_t eval_every = 0;        // validation every N steps; 0 = once per epoch
  int64_t patience = 3;          // early stopping: evaluations without improvement; 0 = off
  int64_t checkpoint_every = 0;  // steps; 0 = at validations and the end only
  // Parameter-server snapshots kept per run: the last N checkpoints' and the
  // best validated one's; older ones are deleted on the servers.
  int64_t keep_checkpoints = 3;
  int64_t log_every_s = 10;  // plain progress lines when stderr is not a terminal
  // Compute threads per rank; 0 = cores / local ranks. Default 1: at the
  // default shapes a step is too small to split (2 threads ran 0.5-0.7x as
  // fast as 1 on the 2-core machine); scale with ranks instead.
  int64_t threads = 1;
  int64_t bucket_kib = 1024;  // dense all-reduce bucket size
  // Where the step runs: the CPU backend, or one GPU per trainer rank
  // (chosen by the rank's place among the trainers on its machine).
  TrainDevice device = TrainDevice::kCpu;
  // Hot rows cached per trainer rank and table (row_cache.h); 0 = off.
  int64_t cache_rows = 0;
  // The cache's staleness: 0 = write-through (exact; one trainer rank only),
  // S > 0 = write-back every S steps (and at validations and checkpoints).
  int64_t cache_sync_steps = 0;
  // Device memory a rank may plan for (memory_plan.h); 0 = what the device
  // has (on the CPU: the host's available memory).
  int64_t device_memory_mib = 0;
};

struct EvalOptions {
  int64_t k = 10;
  int64_t auc_negatives = 100;
  int64_t max_users = 0;  // 0 = every user; else a seeded sample (validation speed)
};

struct PsOptions {
  int64_t local_shards = 1;  // in-process shards when neither MPI nor --ps gives servers
  int64_t max_frame_mib = 256;
  // Tries per server call on transport failures (connection refused or
  // reset, timeout), with backoff 50 ms doubling to 2 s: 8 tries wait about
  // 5 s in all before the call fails naming the shard.
  int64_t retry_attempts = 8;
  // Bounds of the id tables, per shard (ps.thrift TableSpec): a row cap (0:
  // none), the training pulls before a key gets a row (0 or 1: the first),
  // and seconds without a push before a row is evicted (0: never).
  int64_t max_rows = 0;
  int64_t admit_after = 0;
  double ttl_s = 0;
  // Authentication, as the servers were started (README "The parameter
  // server"): all three TLS files (PEM) for servers with --tls-*, the
  // servers' token file for servers with --auth-token-file.
  std::string tls_cert, tls_key, tls_ca;
  std::string auth_token_file;
  // A shard that restarted mid-run (kill -9 and a restart from its own
  // periodic `latest`: rows of another time than the others') is met with
  // kStop: the run stops with an error naming the shard; or kRewind: every
  // rank goes back to DIR/checkpoints/latest (dense state, and that step's
  // snapshot loaded on every shard) and trains on from there, at most
  // max_rewinds times in a run. kRewind checkpoints step 0 of a fresh run.
  OnRestart on_restart = OnRestart::kStop;
  int64_t max_rewinds = 3;
};

// Online training from a stream of interaction events (trainer/stream):
// after the offline epochs the trainer reads `url` and trains on its events
// in micro-batches with the offline step (README "Online training").
struct StreamOptions {
  std::string url;      // "" = no stream; file:PATH or nats://HOST:PORT/SUBJECT
  int64_t batch = 256;  // events per micro-batch, over all trainer ranks
  // A micro-batch waits this long to fill, then trains on what came (at
  // least one event per rank).
  int64_t max_wait_ms = 200;
  int64_t checkpoint_every = 10000;  // events; 0 = only at the end and on a signal
  int64_t stop_after = 0;            // stop once this many events were trained (0 = never)
  double idle_stop_s = 0;            // stop after this long without an event (0 = never)
  // The BERT model directory for new items' text (datasets embedded by one).
  std::string text_model;
  // false: the model is frozen (no push, no dense step); events only extend
  // histories and are scored (stream.prequential_k): the baseline of
  // benchmarks/stream/online_pays.sh.
  bool learn = true;
  // > 0: before training on an event, rank its item among all known items
  // for its user and log the hit rate at this K (prequential evaluation).
  int64_t prequential_k = 0;
};

// The generated-text score term (README "The generated-text score term"):
// `hybrec eval` re-ranks the hybrid's top generated_n items of each case
// with z' = (z + lambda y') / sqrt(1 + lambda^2), y' the decoder's mean
// log-probability per token of the item's title after a prompt of the
// user's recent titles (trainer/rerank).
struct RerankOptions {
  int64_t generated_n = 0;  // candidates re-ranked per case; 0 = off
  // lambda when lambda_grid is empty; with a grid, lambda is chosen on the
  // validation split's NDCG@K among the grid and 0.
  double generated_lambda = 0.0;
  std::vector<double> lambda_grid;
  std::string model = "models/SmolLM2-135M-Instruct.Q4_1.gguf";  // a Llama GGUF file
  int64_t history_titles = 10;  // the user's most recent titles in the prompt
  int64_t title_tokens = 24;    // a title is cut to this many tokens
  // Users evaluated with and without the term (a seeded sample, the same
  // for validation and test); 0 = every user. The decoder is slow.
  int64_t max_users = 0;
  // Also rank the test cases at every lambda of the grid: a diagnostic of
  // what the term does on test (the choice stays validation's), which
  // decodes the test cases even when lambda = 0 wins.
  bool test_curve = false;
};

struct TrainConfig {
  std::string source;  // where it came from, for messages
  std::string data_path;
  // Offline training uses only the training events before this time
  // quantile of the dataset's events (trainer/data/time_order.h); 1 = all.
  double before_time_quantile = 1.0;
  ModelConfig model;
  TrainOptions train;
  EvalOptions eval;
  PsOptions ps;
  StreamOptions stream;
  RerankOptions rerank;
};

// Parses `path` (TOML), then applies overrides of the form "section.key=value".
TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides);

// The same from TOML text (tests; `source` names it in messages).
TrainConfig parse_config(const std::string& toml_text, const std::string& source,
                         const std::vector<std::string>& overrides);

// Every key with its current value, as TOML that parse_config reads back to
// the same config (a run directory keeps it next to its checkpoints).
std::string to_toml(const TrainConfig& config);

}  // namespace hybrec::trainer
