#include "trainer/stream/nats_link.h"

#include <memory>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

namespace {

// Bounds on single calls, so a broker that vanishes mid-call is noticed
// well within the retry budget.
constexpr int64_t kConnectTimeoutMs = 2000;
constexpr int64_t kApiWaitMs = 5000;
// Pings find a broker that went away without closing the socket (a host,
// not a process, that died) in about kPingIntervalMs * (kMaxPingsOut + 1).
constexpr int64_t kPingIntervalMs = 5000;
constexpr int kMaxPingsOut = 2;

std::string status_text(natsStatus status) {
  std::string text = natsStatus_GetText(status);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (last == status && detail != nullptr && *detail != '\0' && text != detail) {
    text += std::string(" (") + detail + ")";
  }
  return text;
}

// JetStream answers with these while it starts up after a restart.
bool is_not_ready(jsErrCode code) {
  return code == JSClusterNotAvailErr || code == JSNotEnabledErr ||
         code == JSNotEnabledForAccountErr;
}

struct OptionsDeleter {
  void operator()(natsOptions* o) const { natsOptions_Destroy(o); }
};

}  // namespace

void check_nats(natsStatus status, jsErrCode code, const NatsUrl& url, const std::string& what) {
  if (status == NATS_OK) return;
  const std::string text = status_text(status);
  // code == 0: the failure is the transport's, not an answer of JetStream.
  if (code == 0 || is_not_ready(code)) {
    throw NatsUnavailable(what + ": " + text);
  }
  HYBREC_THROW(url.url, ": ", what, " refused by the broker: ", text, " (JetStream error ",
               static_cast<int>(code), ")");
}

NatsLink::NatsLink(const NatsUrl& url) : url_(url) {
  natsOptions* raw = nullptr;
  check_nats(natsOptions_Create(&raw), jsErrCode(0), url_, "natsOptions_Create");
  std::unique_ptr<natsOptions, OptionsDeleter> options(raw);
  const std::string server = url_.server();
  natsStatus s = natsOptions_SetURL(raw, server.c_str());
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(raw, false);
  if (s == NATS_OK) s = natsOptions_SetTimeout(raw, kConnectTimeoutMs);
  if (s == NATS_OK) s = natsOptions_SetPingInterval(raw, kPingIntervalMs);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(raw, kMaxPingsOut);
  if (s == NATS_OK) s = natsOptions_SetName(raw, "hybrec");
  HYBREC_CHECK(s == NATS_OK, url_.url, ": cannot set NATS client options: ", status_text(s));
  check_nats(natsConnection_Connect(&connection_, raw), jsErrCode(0), url_, "connect");
  jsOptions_Init(&js_options_);
  js_options_.Wait = kApiWaitMs;
  s = natsConnection_JetStream(&js_, connection_, &js_options_);
  if (s != NATS_OK) {
    natsConnection_Destroy(connection_);
    HYBREC_THROW(url_.url, ": cannot make a JetStream context: ", status_text(s));
  }
}

NatsLink::~NatsLink() {
  jsCtx_Destroy(js_);
  natsConnection_Destroy(connection_);  // closes it first
}

bool NatsLink::connected() const {
  return natsConnection_Status(connection_) == NATS_CONN_STATUS_CONNECTED;
}

uint64_t NatsLink::ensure_stream() {
  const std::string name = url_.stream_name();
  jsStreamInfo* info = nullptr;
  jsErrCode code = jsErrCode(0);
  natsStatus s = js_GetStreamInfo(&info, js_, name.c_str(), &js_options_, &code);
  if (s == NATS_NOT_FOUND || code == JSStreamNotFoundErr) {
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    const char* subjects[] = {url_.subject.c_str()};
    config.Name = name.c_str();
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    // Limits retention (the default): acks never delete events, so a reader
    // can always go back to the position its checkpoint holds.
    code = jsErrCode(0);
    s = js_AddStream(&info, js_, &config, &js_options_, &code);
    if (code == JSStreamNameExistErr) {
      // Another reader or writer created it first.
      code = jsErrCode(0);
      s = js_GetStreamInfo(&info, js_, name.c_str(), &js_options_, &code);
    }
    check_nats(s, code, url_, "create stream " + name);
  } else {
    check_nats(s, code, url_, "look up stream " + name);
  }
  bool holds_subject = false;
  for (int i = 0; i < info->Config->SubjectsLen; ++i) {
    holds_subject = holds_subject || url_.subject == info->Config->Subjects[i];
  }
  const uint64_t last = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  HYBREC_CHECK(holds_subject, url_.url, ": stream ", name, " exists but does not hold subject '",
               url_.subject, "' (another subject maps to the same stream name)");
  return last;
}

}  // namespace hybrec::trainer
