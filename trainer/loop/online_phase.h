// The online phase of a run (stream.url): after the offline epochs, every
// trainer rank trains on the stream's events in micro-batches with the
// offline step (TrainStep::run_examples), in lockstep (StreamFeed: rank 0
// reads, every rank gets each micro-batch), streamed events extending their
// users' histories and new items joining the text table and the negatives
// (StreamState). A position is acknowledged once every rank pushed the rows
// of every event up to it; checkpoints (every stream.checkpoint_every
// events, at the end and on a signal) record it with the parameters, so a
// resumed run reads exactly the events after it. A resumed run first
// replays the events up to its checkpoint's position into the state,
// without training: the state is what they taught.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "trainer/data/dataset.h"
#include "trainer/dist/communicator.h"
#include "trainer/loop/config.h"
#include "trainer/loop/run_log.h"
#include "trainer/loop/sparse_tables.h"
#include "trainer/loop/stream_state.h"
#include "trainer/loop/train_step.h"
#include "trainer/model/hybrid_model.h"

namespace hybrec::trainer {

// Where a stream stands: what a checkpoint records (TrainerState's stream_*
// fields) and what a resumed run starts from.
struct StreamProgress {
  uint64_t position = 0;  // the last event trained
  int64_t events = 0;     // events trained in all
  int64_t new_items = 0;  // new items met (lines of online/new_items.jsonl)
  int64_t catalogue_items = 0;
};

// What the phase uses of its run; everything must outlive the call.
struct OnlineRun {
  const TrainConfig& config;
  Communicator& comm;
  const TrainingSet& set;
  const HybridModel& model;
  TrainStep& step;
  SparseTables* tables;  // null without id embeddings
  MetricsLog& log;       // rank 0's (the others' log nothing)
  Progress& progress;
  std::string stream_url;  // resolved (file: paths absolute)
  std::string run_dir;     // online/new_items.jsonl lives here
  std::string run_id;      // the consumer's durable name is "hybrec-" + run_id
  ItemTextEncoder encoder;
  double lr;                            // the dense learning rate of every online step
  const std::atomic<int>* stop_signal;  // rank 0 stops polling once it is set
  std::function<bool()> signalled;      // every rank at once: was any asked to stop?
  // Every rank at once: checkpoint `step` recording `at`.
  std::function<void(int64_t step, const StreamProgress& at)> checkpoint;
};

struct OnlineResult {
  StreamProgress end;
  bool preempted = false;        // stopped by a signal (checkpointed)
  double last_loss = 0.0;        // this rank's loss of the last micro-batch trained
  double prequential_hr = -1.0;  // over this call's events; -1: stream.prequential_k = 0
};

// Runs the phase from `resumed` (all zero for a run that starts the stream)
// until stream.stop_after, stream.idle_stop_s or a signal; `step` counts on
// from the offline steps, one per micro-batch trained.
OnlineResult run_online(const OnlineRun& run, const StreamProgress& resumed, int64_t& step);

}  // namespace hybrec::trainer
