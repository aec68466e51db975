// Interaction events arriving while a model is live (DESIGN.md's real-time
// path): what the online trainer learns from and what serving folds into a
// user's recent history. A source is an ordered, durable log read through a
// cursor: an append-only JSON-lines file that is tailed (the embedded
// default, no broker) or a NATS JetStream stream read by a durable consumer.
//
// Positions: every event carries the source's position, 1-based and strictly
// increasing in the order the source returns events (a file's line number, a
// JetStream stream sequence). A reader that restarts from position P
// receives exactly the events after P, each once: the online trainer keeps P
// in its checkpoint, so what it learnt and what it reads next never overlap
// or leave a gap.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trainer/stream/event.h"

namespace hybrec::trainer {

class EventSource {
 public:
  virtual ~EventSource() = default;

  // Up to `max` events after the last one returned (or after the start
  // position), waiting up to `timeout` for the first; empty when none came.
  // Throws hybrec::Error naming the source when it cannot be read (a
  // malformed event names its position); a source that lost its broker
  // retries with backoff inside poll and reports through errors only once it
  // gives up.
  virtual std::vector<StreamEvent> poll(std::size_t max, std::chrono::milliseconds timeout) = 0;

  // Everything up to and including `position` has been applied (its rows
  // pushed). A durable source records this with the broker (JetStream ack);
  // a file source needs no record (the checkpoint holds the position).
  virtual void ack(uint64_t position) = 0;

  // "file:/path" or "nats://host:port/SUBJECT", for messages.
  virtual std::string describe() const = 0;
};

struct EventSourceOptions {
  // Resume after this position (0: from the beginning of the log).
  uint64_t start_after = 0;
  // A durable reader (the trainer) names its consumer; "" = an ephemeral
  // reader (serving's history feed) that starts at start_after and records
  // nothing.
  std::string durable_name;
};

// Opens "file:PATH" or "nats://HOST:PORT/SUBJECT". Throws naming the URL
// when its scheme is unknown or it cannot be opened.
std::unique_ptr<EventSource> open_event_source(const std::string& url,
                                               const EventSourceOptions& options);

// Appends events to a source's log ("file:PATH" or "nats://HOST:PORT/SUBJECT"):
// `hybrec publish` and tests. publish returns once the event is durable (the
// file line flushed, JetStream's publish acknowledged).
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void publish(const StreamEvent& event) = 0;
  virtual std::string describe() const = 0;
};

std::unique_ptr<EventSink> open_event_sink(const std::string& url);

}  // namespace hybrec::trainer
