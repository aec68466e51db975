// The micro-batches of an online run, the same on every trainer rank: rank
// 0 reads the event source and broadcasts each micro-batch over the
// trainers' communicator, so every rank applies the same events in the same
// order and the ranks step in lockstep.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "trainer/dist/communicator.h"
#include "trainer/loop/config.h"
#include "trainer/stream/event_source.h"

namespace hybrec::trainer {

struct MicroBatch {
  std::vector<StreamEvent> events;
  // Stop after these events: stream.stop_after reached, stream.idle_stop_s
  // without an event, or a stop signal on rank 0.
  bool stop = false;
};

class StreamFeed {
 public:
  // `source` is rank 0's (null on the other ranks); `trained` the events
  // trained before (a resumed run's checkpoint), which stream.stop_after counts.
  StreamFeed(Communicator& comm, std::unique_ptr<EventSource> source, const StreamOptions& options,
             int64_t trained, const std::atomic<int>* stop_signal);

  // The next micro-batch: up to stream.batch events, waiting up to
  // stream.max_wait_ms once the first arrived, and at least one per rank
  // (fewer wait for more; when the feed stops with fewer, they are left for
  // the next run: never trained, never acknowledged).
  MicroBatch next();

  // Rank 0: every event up to `position` was applied (EventSource::ack).
  void ack(uint64_t position);

 private:
  MicroBatch poll();  // rank 0

  Communicator& comm_;
  std::unique_ptr<EventSource> source_;
  const StreamOptions& options_;
  int64_t trained_;
  const std::atomic<int>* stop_signal_;
};

// Rank 0 reads `url` from its start up to and including `position`, and
// every rank gets the events, in micro-batches of `batch`, through `apply`:
// how a resumed run rebuilds what the events before its checkpoint taught
// its state (histories, new items). Throws naming the stream when it ends
// before `position` (events lost to the stream's retention).
void replay_stream(Communicator& comm, const std::string& url, uint64_t position, int64_t batch,
                   const std::function<void(const std::vector<StreamEvent>&)>& apply);

}  // namespace hybrec::trainer
