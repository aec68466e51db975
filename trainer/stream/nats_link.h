// One connection to a NATS server with its JetStream context, and what the
// source and the sink both do on it: make sure the event stream exists, and
// sort a failed call into "the broker is away, try again" (NatsUnavailable)
// or "the broker refused" (hybrec::Error, thrown at once).
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "trainer/stream/nats_url.h"

namespace hybrec::trainer {

// The broker could not be reached or was not ready (connection refused or
// closed, a request timed out, JetStream still starting). Internal: the
// retry loop (nats_retry.h) turns the last one into a hybrec::Error when it
// gives up.
class NatsUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws NatsUnavailable for a transport failure or a JetStream that is not
// ready, hybrec::Error naming the URL and `what` for anything else the
// broker said. Returns when `status` is NATS_OK.
void check_nats(natsStatus status, jsErrCode code, const NatsUrl& url, const std::string& what);

class NatsLink {
 public:
  // Connects to url.server(). The client's own reconnection is off: a lost
  // connection stays closed, and the caller rebuilds everything on a fresh
  // one, so no pull request or ack is replayed behind its back after a
  // broker restart. Throws NatsUnavailable when the server is not there.
  explicit NatsLink(const NatsUrl& url);
  ~NatsLink();
  NatsLink(const NatsLink&) = delete;
  NatsLink& operator=(const NatsLink&) = delete;

  jsCtx* js() { return js_; }
  // Options for every JetStream call on this link (the API request wait).
  jsOptions* js_options() { return &js_options_; }
  bool connected() const;

  // Creates the stream url.stream_name() (file storage, subjects =
  // [url.subject]) unless it exists, and returns its last sequence (0 when
  // empty). Throws hybrec::Error when a stream of that name exists but does
  // not hold the subject (two subjects that map to the same name).
  uint64_t ensure_stream();

 private:
  const NatsUrl url_;
  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
  jsOptions js_options_;
};

}  // namespace hybrec::trainer
