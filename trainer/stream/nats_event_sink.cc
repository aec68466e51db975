// The JetStream writer: one synchronous publish per event, acknowledged by
// the broker before publish returns.
#include <unistd.h>

#include <random>

#include "hybrec/kernels/error.h"
#include "trainer/stream/nats_event_source.h"
#include "trainer/stream/nats_link.h"
#include "trainer/stream/nats_retry.h"

namespace hybrec::trainer {

namespace {

class NatsEventSink final : public EventSink {
 public:
  NatsEventSink(NatsUrl url, const NatsOptions& nats) : url_(std::move(url)), nats_(nats) {
    // Message ids: a publish retried after a lost acknowledgement carries
    // the same id, and JetStream's duplicate window (2 min by default)
    // stores it once. The prefix tells this sink's ids from another's.
    std::random_device random;
    id_prefix_ = "hybrec-" + std::to_string(::getpid()) + "-" + std::to_string(random()) + "-" +
                 std::to_string(random()) + "-";
    with_nats_retry(url_, nats_.retry_for, [&] { connect(); });
  }

  void publish(const StreamEvent& event) override {
    const std::string data = encode_event(event);
    const std::string id = id_prefix_ + std::to_string(++published_);
    const std::string stream = url_.stream_name();
    with_nats_retry(url_, nats_.retry_for, [&] {
      if (!link_ || !link_->connected()) connect();
      jsPubOptions options;
      jsPubOptions_Init(&options);
      options.MsgId = id.c_str();
      options.ExpectStream = stream.c_str();
      jsPubAck* ack = nullptr;
      jsErrCode code = jsErrCode(0);
      const natsStatus s = js_Publish(&ack, link_->js(), url_.subject.c_str(), data.data(),
                                      static_cast<int>(data.size()), &options, &code);
      jsPubAck_Destroy(ack);
      try {
        check_nats(s, code, url_, "publish");
      } catch (const NatsUnavailable&) {
        // The next attempt starts on a fresh connection and checks the
        // stream again (it may be the stream, not the broker, that went).
        link_.reset();
        throw;
      }
    });
  }

  std::string describe() const override { return url_.url; }

 private:
  void connect() {
    link_.reset();
    auto link = std::make_unique<NatsLink>(url_);
    link->ensure_stream();
    link_ = std::move(link);
  }

  NatsUrl url_;
  NatsOptions nats_;
  std::string id_prefix_;
  uint64_t published_ = 0;
  std::unique_ptr<NatsLink> link_;
};

}  // namespace

std::unique_ptr<EventSink> open_nats_event_sink(const std::string& url, const NatsOptions& nats) {
  return std::make_unique<NatsEventSink>(parse_nats_url(url), nats);
}

}  // namespace hybrec::trainer
