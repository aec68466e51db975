// The NATS JetStream side of event_source.h: a log at
// "nats://HOST:PORT/SUBJECT" is the JetStream stream "HYBREC_<SUBJECT>"
// (see NatsUrl::stream_name), file storage, holding exactly that subject;
// the source and the sink create it when it does not exist. A position is
// the message's stream sequence.
//
// Reading (open_nats_event_source):
// - The caller's start_after is authoritative. A durable source (durable_name
//   set) deletes the JetStream consumer of that name and creates it again
//   to start at sequence start_after + 1 (ack policy "all"), whatever the
//   broker had recorded for it: it returns exactly the events after
//   start_after, each once, in order, also when the broker's ack floor is
//   ahead of or behind start_after.
// - ack(P) acknowledges everything up to P to the broker (one AckAll ack on
//   the newest returned message at or below P), so the consumer's ack floor
//   follows the trainer. P beyond the last event returned throws: nothing is
//   acknowledged before it has been read. The ack is not waited for; one
//   lost with the connection costs nothing, since the consumer made after
//   the outage starts at P + 1 (the broker shows its ack floor from the
//   next ack on).
// - An ephemeral source (durable_name "") reads through a consumer the
//   broker names, acknowledges nothing, and deletes it on close.
// - A broker that goes away or restarts mid-stream: poll reconnects with
//   backoff for up to NatsOptions::retry_for (a line on stderr naming the
//   broker, once per outage), makes the consumer again after the last
//   acknowledged event and skips what it had already returned, so nothing is
//   lost or repeated; it throws hybrec::Error naming the broker only when
//   the time is spent. The same happens whenever the consumer's delivery
//   count shows a message this reader never saw.
// - A malformed payload throws decode_event's error located as
//   "nats://HOST:PORT/SUBJECT sequence N"; polling again throws the same
//   error (the event is not skipped). Events of the same fetch before it are
//   returned first.
// - The stream ending before start_after (or before an event already read)
//   throws: it was deleted or recreated, and the positions no longer mean
//   what the checkpoint meant.
//
// Writing (open_nats_event_sink): publish returns once JetStream has
// acknowledged the message; while the broker is away it retries for up to
// retry_for (the same message id each time, so JetStream's duplicate window
// stores it once) and then throws naming the broker.
//
// Both open functions throw hybrec::Error naming the URL when it is
// malformed (nats_url.h), and retry an unreachable broker as above.
// Sources and sinks are used from one thread at a time.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "trainer/stream/event_source.h"

namespace hybrec::trainer {

struct NatsOptions {
  // How long poll, publish and the open functions keep retrying a broker
  // that is down before they throw.
  std::chrono::milliseconds retry_for{30'000};
};

std::unique_ptr<EventSource> open_nats_event_source(const std::string& url,
                                                    const EventSourceOptions& options,
                                                    const NatsOptions& nats = {});

std::unique_ptr<EventSink> open_nats_event_sink(const std::string& url,
                                                const NatsOptions& nats = {});

}  // namespace hybrec::trainer
