#include "trainer/stream/event_source.h"

#include "hybrec/kernels/error.h"
#include "trainer/stream/file_event_source.h"
#include "trainer/stream/nats_event_source.h"

namespace hybrec::trainer {

namespace {

constexpr const char* kFile = "file:";
constexpr const char* kNats = "nats://";

bool has_scheme(const std::string& url, const char* scheme) {
  return url.compare(0, std::char_traits<char>::length(scheme), scheme) == 0;
}

std::string file_path(const std::string& url) {
  const std::string path = url.substr(std::char_traits<char>::length(kFile));
  HYBREC_CHECK(!path.empty(), "event stream '", url, "': file: needs a path (file:PATH)");
  return path;
}

[[noreturn]] void unknown_scheme(const std::string& url) {
  HYBREC_THROW("event stream '", url,
               "': unknown scheme (expected file:PATH or nats://HOST:PORT/SUBJECT)");
}

}  // namespace

std::unique_ptr<EventSource> open_event_source(const std::string& url,
                                               const EventSourceOptions& options) {
  if (has_scheme(url, kFile)) return open_file_event_source(file_path(url), options);
  if (has_scheme(url, kNats)) return open_nats_event_source(url, options);
  unknown_scheme(url);
}

std::unique_ptr<EventSink> open_event_sink(const std::string& url) {
  if (has_scheme(url, kFile)) return open_file_event_sink(file_path(url));
  if (has_scheme(url, kNats)) return open_nats_event_sink(url);
  unknown_scheme(url);
}

}  // namespace hybrec::trainer
