// The JetStream reader. The consumer is treated as a cursor this reader
// owns: it is (re)created at a sequence the reader chooses (open: after
// start_after; after any trouble: after the last acknowledged event), and
// the reader checks every delivery against what it expects (the consumer's
// delivery count goes up by one per message), so the broker's stored
// consumer state never decides what the trainer sees.
#include "trainer/stream/nats_event_source.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <utility>

#include "hybrec/kernels/error.h"
#include "trainer/stream/nats_link.h"
#include "trainer/stream/nats_retry.h"

namespace hybrec::trainer {

namespace {

// Events fetched per request at most (a poll with a larger max returns
// fewer; the caller polls again).
constexpr std::size_t kMaxBatch = 1024;
// The broker redelivers an unacknowledged message after this; the trainer
// may hold events that long between poll and ack without a redelivery (a
// redelivery is skipped anyway, see take()).
constexpr int64_t kAckWaitNs = 3600LL * 1'000'000'000LL;
// The broker drops an ephemeral consumer nobody pulled from for this long
// (a serving process that died without closing its source).
constexpr int64_t kEphemeralIdleNs = 300LL * 1'000'000'000LL;

void check_durable_name(const std::string& url, const std::string& name) {
  for (char c : name) {
    const unsigned char u = static_cast<unsigned char>(c);
    HYBREC_CHECK(u > ' ' && u != 0x7f && c != '.' && c != '*' && c != '>' && c != '/' && c != '\\',
                 url, ": durable consumer name '", name,
                 "' may not hold '.', '*', '>', '/', '\\', whitespace or control characters");
  }
}

// Owns a fetched list; messages taken out of it are set to nullptr.
struct MsgList {
  natsMsgList list{nullptr, 0};
  ~MsgList() { natsMsgList_Destroy(&list); }
};

class NatsEventSource final : public EventSource {
 public:
  NatsEventSource(NatsUrl url, const EventSourceOptions& options, const NatsOptions& nats)
      : url_(std::move(url)),
        durable_name_(options.durable_name),
        nats_(nats),
        last_returned_(options.start_after),
        last_acked_(options.start_after) {
    check_durable_name(url_.url, durable_name_);
    // The open retries an absent broker like poll does.
    with_nats_retry(url_, nats_.retry_for, [&] { reopen(); });
  }

  ~NatsEventSource() override {
    drop_consumer_handles();
    if (!durable() && link_ && link_->connected() && !consumer_.empty()) {
      // Best effort: the broker's idle threshold removes it otherwise.
      js_DeleteConsumer(link_->js(), stream_.c_str(), consumer_.c_str(), link_->js_options(),
                        nullptr);
    }
  }

  std::vector<StreamEvent> poll(std::size_t max, std::chrono::milliseconds timeout) override {
    std::vector<StreamEvent> out;
    if (max == 0) return out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (broken_) recover();
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      // Fetch needs a positive wait; after a deadline spent on recovery
      // this is one short look for what is there.
      const int64_t wait_ms = std::max<int64_t>(left.count(), 1);
      int batch = static_cast<int>(std::min(max - out.size(), kMaxBatch));
      // libnats 3.4.1's Fetch first drains messages already queued on the
      // subscription (late answers to an earlier pull), then asks for
      // batch - drained more but stops only at exactly that count: with
      // more drained than asked for, it writes past its array (ASan, in the
      // kill test). One message at a time while any are queued.
      int queued = 0;
      int queued_bytes = 0;
      if (natsSubscription_GetPending(sub_, &queued, &queued_bytes) == NATS_OK && queued > 0) {
        batch = 1;
      }
      MsgList fetched;
      jsErrCode code = jsErrCode(0);
      const natsStatus s = natsSubscription_Fetch(&fetched.list, sub_, batch, wait_ms, &code);
      if (s == NATS_OK) {
        take(fetched.list, out);
      } else if (s == NATS_TIMEOUT && link_->connected()) {
        return out;  // nothing new
      } else {
        broken_ = true;
        broken_why_ = "fetch: " + std::string(natsStatus_GetText(s));
      }
      if (!out.empty() || (!broken_ && std::chrono::steady_clock::now() >= deadline)) return out;
    }
  }

  void ack(uint64_t position) override {
    HYBREC_CHECK(position <= last_returned_, url_.url, ": ack of position ", position,
                 " beyond the last event returned (", last_returned_, ")");
    if (!durable() || position <= last_acked_) return;
    // AckAll: acking the newest returned message at or below `position`
    // moves the broker's ack floor over everything before it as well.
    const auto end = unacked_.upper_bound(position);
    if (end != unacked_.begin() && !broken_) {
      if (natsMsg_Ack(std::prev(end)->second, link_->js_options()) != NATS_OK) {
        broken_ = true;  // the next consumer starts after `position`: that records it
        broken_why_ = "ack";
      }
    }
    for (auto it = unacked_.begin(); it != end; it = unacked_.erase(it))
      natsMsg_Destroy(it->second);
    last_acked_ = position;
  }

  std::string describe() const override { return url_.url; }

 private:
  bool durable() const { return !durable_name_.empty(); }

  // Messages of a fetch, in order: new events go to `out`; what was already
  // returned (read again after a new consumer started at the ack floor, or
  // redelivered) is skipped. Stops, and marks the consumer for a rebuild, at
  // the first delivery out of step or a malformed payload.
  void take(natsMsgList& list, std::vector<StreamEvent>& out) {
    for (int i = 0; i < list.Count; ++i) {
      natsMsg* msg = list.Msgs[i];
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
        broken_ = true;
        broken_why_ = "a message without JetStream metadata";
        return;
      }
      const uint64_t sequence = meta->Sequence.Stream;
      const uint64_t delivery = meta->Sequence.Consumer;
      jsMsgMetaData_Destroy(meta);
      if (delivery != next_delivery_) {
        // The broker delivered something this subscription never received
        // (e.g. to an expired fetch): start over after the ack floor.
        broken_ = true;
        broken_why_ = "delivery " + std::to_string(delivery) + " where " +
                      std::to_string(next_delivery_) + " was due";
        return;
      }
      ++next_delivery_;
      if (sequence <= last_returned_) {
        // Keep it as the ack handle of an event returned before the consumer
        // was made again (the old handles went with the old consumer); a
        // redelivery on the same consumer keeps the original handle, whose
        // delivery number the broker's AckAll bookkeeping expects.
        if (durable() && sequence > last_acked_ && unacked_.count(sequence) == 0) {
          unacked_.emplace(sequence, msg);
          list.Msgs[i] = nullptr;
        }
        continue;
      }
      StreamEvent event;
      try {
        const char* data = natsMsg_GetData(msg);
        event = decode_event(std::string(data == nullptr ? "" : data,
                                         static_cast<std::size_t>(natsMsg_GetDataLength(msg))),
                             url_.url + " sequence " + std::to_string(sequence));
      } catch (const Error&) {
        // Read it again (and fail again) on the next poll instead of
        // skipping it; what came before it is returned now.
        broken_ = true;
        broken_why_ = "malformed event";
        if (out.empty()) throw;
        return;
      }
      event.position = sequence;
      out.push_back(std::move(event));
      last_returned_ = sequence;
      if (durable()) {
        unacked_.emplace(sequence, msg);
        list.Msgs[i] = nullptr;
      }
    }
  }

  // A fresh consumer on a working link, or a new link when the old one is
  // gone, retried for the budget; then fetching resumes.
  void recover() {
    with_nats_retry(
        url_, nats_.retry_for, [&] { reopen(); },
        link_ && link_->connected() ? std::string() : broken_why_);
    broken_ = false;
  }

  // Connects when needed, checks the stream, and makes the consumer start
  // after the last acknowledged event (durable) or the last returned one
  // (ephemeral). Throws NatsUnavailable to be retried.
  void reopen() {
    drop_consumer_handles();
    if (!link_ || !link_->connected()) {
      link_.reset();
      link_ = std::make_unique<NatsLink>(url_);
    }
    stream_ = url_.stream_name();
    const uint64_t last = link_->ensure_stream();
    HYBREC_CHECK(last >= last_returned_, url_.url, ": stream ", stream_, " ends at sequence ", last,
                 " but this reader starts after ", last_returned_,
                 " (the stream was deleted or recreated since that position was read)");
    jsOptions* jo = link_->js_options();
    jsErrCode code = jsErrCode(0);
    if (durable()) {
      consumer_ = durable_name_;
      const natsStatus s =
          js_DeleteConsumer(link_->js(), stream_.c_str(), consumer_.c_str(), jo, &code);
      if (!(s == NATS_NOT_FOUND || code == JSConsumerNotFoundErr)) {
        check_nats(s, code, url_, "delete consumer " + consumer_);
      }
    } else if (!consumer_.empty()) {
      js_DeleteConsumer(link_->js(), stream_.c_str(), consumer_.c_str(), jo, nullptr);
    }

    jsConsumerConfig config;
    jsConsumerConfig_Init(&config);
    config.Durable = durable() ? durable_name_.c_str() : nullptr;
    config.DeliverPolicy = js_DeliverByStartSequence;
    config.OptStartSeq = (durable() ? last_acked_ : last_returned_) + 1;
    config.AckPolicy = durable() ? js_AckAll : js_AckNone;
    config.AckWait = kAckWaitNs;
    config.MaxAckPending = -1;  // the trainer decides how far it reads ahead of its acks
    config.FilterSubject = url_.subject.c_str();
    if (!durable()) config.InactiveThreshold = kEphemeralIdleNs;
    jsConsumerInfo* info = nullptr;
    code = jsErrCode(0);
    check_nats(js_AddConsumer(&info, link_->js(), stream_.c_str(), &config, jo, &code), code, url_,
               "create consumer");
    consumer_ = info->Name;
    jsConsumerInfo_Destroy(info);

    // Bound to the consumer made above, so the library neither creates nor
    // (on destroy) deletes one of its own.
    jsSubOptions sub_options;
    jsSubOptions_Init(&sub_options);
    sub_options.Stream = stream_.c_str();
    sub_options.Consumer = consumer_.c_str();
    code = jsErrCode(0);
    check_nats(js_PullSubscribe(&sub_, link_->js(), url_.subject.c_str(), config.Durable, jo,
                                &sub_options, &code),
               code, url_, "subscribe to consumer " + consumer_);
    next_delivery_ = 1;
  }

  // The handles of unacknowledged events and the subscription belong to
  // the consumer about to be replaced (acks through them would reach it
  // with its delivery numbers); they go before it does.
  void drop_consumer_handles() {
    for (auto& [sequence, msg] : unacked_) natsMsg_Destroy(msg);
    unacked_.clear();
    natsSubscription_Destroy(sub_);
    sub_ = nullptr;
  }

  NatsUrl url_;
  std::string durable_name_;
  NatsOptions nats_;
  std::unique_ptr<NatsLink> link_;
  std::string stream_;
  std::string consumer_;  // the durable name, or the broker's name for the ephemeral
  natsSubscription* sub_ = nullptr;
  uint64_t last_returned_;
  uint64_t last_acked_;
  uint64_t next_delivery_ = 1;  // the consumer sequence the next message must carry
  // Durable: the message of each returned, not yet acknowledged event (its
  // reply subject is how an ack reaches the broker).
  std::map<uint64_t, natsMsg*> unacked_;
  bool broken_ = false;  // the consumer (or the link) must be made again before fetching
  std::string broken_why_;
};

}  // namespace

std::unique_ptr<EventSource> open_nats_event_source(const std::string& url,
                                                    const EventSourceOptions& options,
                                                    const NatsOptions& nats) {
  return std::make_unique<NatsEventSource>(parse_nats_url(url), options, nats);
}

}  // namespace hybrec::trainer
