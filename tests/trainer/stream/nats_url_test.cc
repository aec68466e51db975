// Parsing "nats://HOST:PORT/SUBJECT" (no broker needed): the parts, the
// stream name, and every malformed form named.
#include "trainer/stream/nats_url.h"

#include <gtest/gtest.h>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {
namespace {

TEST(NatsUrl, SplitsHostPortAndSubject) {
  const NatsUrl u = parse_nats_url("nats://broker-1.example.com:4222/hybrec.events.v2");
  EXPECT_EQ(u.host, "broker-1.example.com");
  EXPECT_EQ(u.port, 4222);
  EXPECT_EQ(u.subject, "hybrec.events.v2");
  EXPECT_EQ(u.server(), "nats://broker-1.example.com:4222");
  EXPECT_EQ(u.stream_name(), "HYBREC_hybrec_events_v2");
  EXPECT_EQ(u.url, "nats://broker-1.example.com:4222/hybrec.events.v2");
}

TEST(NatsUrl, AcceptsBracketedIpv6) {
  const NatsUrl u = parse_nats_url("nats://[::1]:4222/events");
  EXPECT_EQ(u.host, "[::1]");
  EXPECT_EQ(u.server(), "nats://[::1]:4222");
}

TEST(NatsUrl, MapsEveryNonAlphanumericToUnderscore) {
  EXPECT_EQ(parse_nats_url("nats://h:1/a-b_c.D9").stream_name(), "HYBREC_a_b_c_D9");
}

TEST(NatsUrl, MalformedUrlsAreNamedWithTheirProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {"file:/tmp/events", "does not start with nats://"},
      {"nats://h:4222", "names no subject"},
      {"nats://h:4222/", "names no subject"},
      {"nats://h/events", "names no port"},
      {"nats://:4222/events", "names no host"},
      {"nats://h:/events", "is not a number"},
      {"nats://h:42a/events", "is not a number"},
      {"nats://h:0/events", "out of range"},
      {"nats://h:65536/events", "out of range"},
      {"nats://h:4222/a..b", "empty token"},
      {"nats://h:4222/.a", "empty token"},
      {"nats://h:4222/a.", "empty token"},
      {"nats://h:4222/a.*", "wildcard"},
      {"nats://h:4222/a.>", "wildcard"},
      {"nats://h:4222/a b", "whitespace"},
      {"nats://h:4222/a/b", "after the subject"},
      {"nats://h:4222/a?x=1", "after the subject"},
      {"nats://u:p@h:4222/a", "user info"},
      {"nats://[::1/a", "unterminated"},
      {"nats://[::1]/a", "names no port"},
  };
  for (const auto& [url, problem] : cases) {
    try {
      parse_nats_url(url);
      ADD_FAILURE() << "accepted " << url;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(std::string("'") + url + "'"), std::string::npos) << what;
      EXPECT_NE(what.find(problem), std::string::npos) << url << ": " << what;
    }
  }
}

}  // namespace
}  // namespace hybrec::trainer
