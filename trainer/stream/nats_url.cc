#include "trainer/stream/nats_url.h"

#include <cctype>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

namespace {

constexpr char kScheme[] = "nats://";

bool is_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

void check_subject(const std::string& url, const std::string& subject) {
  HYBREC_CHECK(!subject.empty(), "NATS URL '", url,
               "' names no subject (nats://HOST:PORT/SUBJECT)");
  std::size_t token_start = 0;
  for (std::size_t i = 0; i <= subject.size(); ++i) {
    if (i == subject.size() || subject[i] == '.') {
      HYBREC_CHECK(i > token_start, "NATS URL '", url, "': subject '", subject,
                   "' has an empty token");
      token_start = i + 1;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(subject[i]);
    HYBREC_CHECK(c > ' ' && c != 0x7f, "NATS URL '", url, "': subject '", subject,
                 "' holds whitespace or a control character");
    HYBREC_CHECK(c != '*' && c != '>', "NATS URL '", url, "': subject '", subject,
                 "' holds a wildcard; an event log is one literal subject");
    HYBREC_CHECK(c != '/' && c != '?' && c != '#', "NATS URL '", url, "': unexpected '", subject[i],
                 "' after the subject");
  }
}

}  // namespace

std::string NatsUrl::server() const { return "nats://" + host + ":" + std::to_string(port); }

std::string NatsUrl::stream_name() const {
  std::string name = "HYBREC_";
  for (char c : subject) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

NatsUrl parse_nats_url(const std::string& url) {
  NatsUrl u;
  u.url = url;
  HYBREC_CHECK(url.compare(0, sizeof kScheme - 1, kScheme) == 0, "NATS URL '", url,
               "' does not start with nats:// (expected nats://HOST:PORT/SUBJECT)");
  const std::string rest = url.substr(sizeof kScheme - 1);
  const std::size_t slash = rest.find('/');
  HYBREC_CHECK(slash != std::string::npos, "NATS URL '", url,
               "' names no subject (expected nats://HOST:PORT/SUBJECT)");
  const std::string authority = rest.substr(0, slash);
  u.subject = rest.substr(slash + 1);

  std::size_t colon;
  if (!authority.empty() && authority[0] == '[') {
    const std::size_t close = authority.find(']');
    HYBREC_CHECK(close != std::string::npos && close > 1, "NATS URL '", url,
                 "': unterminated or empty [IPv6] host");
    for (std::size_t i = 1; i < close; ++i) {
      const char c = authority[i];
      HYBREC_CHECK(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.',
                   "NATS URL '", url, "': '", authority.substr(0, close + 1),
                   "' is not an IPv6 address");
    }
    u.host = authority.substr(0, close + 1);
    colon = close + 1;
    HYBREC_CHECK(colon < authority.size() && authority[colon] == ':', "NATS URL '", url,
                 "' names no port (expected nats://HOST:PORT/SUBJECT)");
  } else {
    colon = authority.rfind(':');
    HYBREC_CHECK(colon != std::string::npos, "NATS URL '", url,
                 "' names no port (expected nats://HOST:PORT/SUBJECT)");
    u.host = authority.substr(0, colon);
    HYBREC_CHECK(!u.host.empty(), "NATS URL '", url, "' names no host");
    for (char c : u.host) {
      HYBREC_CHECK(is_host_char(c), "NATS URL '", url, "': host '", u.host, "' holds '", c,
                   "' (user info and IPv6 without brackets are not supported)");
    }
  }

  const std::string port = authority.substr(colon + 1);
  HYBREC_CHECK(!port.empty() && port.size() <= 5 &&
                   port.find_first_not_of("0123456789") == std::string::npos,
               "NATS URL '", url, "': port '", port, "' is not a number");
  u.port = std::stoi(port);
  HYBREC_CHECK(u.port >= 1 && u.port <= 65535, "NATS URL '", url, "': port ", u.port,
               " is out of range [1, 65535]");
  check_subject(url, u.subject);
  return u;
}

}  // namespace hybrec::trainer
