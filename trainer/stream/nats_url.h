// The address of a NATS JetStream event log, "nats://HOST:PORT/SUBJECT", and
// the stream that holds it. Parsed once, before any connection is made, so
// a typo fails at once and names the URL.
#pragma once

#include <string>

namespace hybrec::trainer {

struct NatsUrl {
  std::string url;      // as given, for messages
  std::string host;     // a name, an IPv4 address or a bracketed IPv6 address
  int port = 0;         // 1..65535
  std::string subject;  // one literal NATS subject (no wildcards)

  // "nats://HOST:PORT": what the client connects to.
  std::string server() const;
  // "HYBREC_" + the subject with every character other than [A-Za-z0-9]
  // mapped to '_' (a stream name may not hold '.', '*', '>' or spaces).
  std::string stream_name() const;
};

// Throws hybrec::Error naming `url` and what is wrong with it: another
// scheme, no or an empty host, a port missing, not a number or out of
// range, no subject, a subject with empty tokens, whitespace or wildcards
// ('*', '>': a sink publishes to the subject, and the stream holds exactly
// it), or anything after the subject (user info, a query, a second '/').
NatsUrl parse_nats_url(const std::string& url);

}  // namespace hybrec::trainer
