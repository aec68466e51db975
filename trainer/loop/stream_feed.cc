#include "trainer/loop/stream_feed.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

namespace {

using Clock = std::chrono::steady_clock;

// How long one poll blocks while rank 0 waits: short, so a stop signal or
// the idle limit is seen promptly.
constexpr std::chrono::milliseconds kPollSlice{50};
// How long a replay waits for an event it knows the stream holds.
constexpr std::chrono::seconds kReplayWait{10};

// A micro-batch's wire form: per event user, item, ts, position and the
// text's length (int64 each), then the text bytes.
std::string pack(const std::vector<StreamEvent>& events) {
  std::string bytes;
  for (const StreamEvent& e : events) {
    const int64_t fields[5] = {e.user, e.item, e.timestamp, static_cast<int64_t>(e.position),
                               static_cast<int64_t>(e.item_text.size())};
    bytes.append(reinterpret_cast<const char*>(fields), sizeof fields);
    bytes += e.item_text;
  }
  return bytes;
}

std::vector<StreamEvent> unpack(const std::string& bytes, int64_t n) {
  std::vector<StreamEvent> events(static_cast<std::size_t>(n));
  std::size_t at = 0;
  for (StreamEvent& e : events) {
    int64_t fields[5];
    std::memcpy(fields, bytes.data() + at, sizeof fields);
    at += sizeof fields;
    e.user = fields[0];
    e.item = fields[1];
    e.timestamp = fields[2];
    e.position = static_cast<uint64_t>(fields[3]);
    e.item_text.assign(bytes.data() + at, static_cast<std::size_t>(fields[4]));
    at += static_cast<std::size_t>(fields[4]);
  }
  return events;
}

// Rank 0's events and flag to every rank (rank 0's are returned as given).
MicroBatch share(Communicator& comm, MicroBatch batch) {
  if (comm.size() == 1) return batch;
  std::string bytes = comm.rank() == 0 ? pack(batch.events) : std::string();
  int64_t header[3] = {static_cast<int64_t>(batch.events.size()), batch.stop ? 1 : 0,
                       static_cast<int64_t>(bytes.size())};
  comm.broadcast(header, sizeof header, 0);
  bytes.resize(static_cast<std::size_t>(header[2]));
  if (header[2] > 0) comm.broadcast(bytes.data(), header[2], 0);
  if (comm.rank() != 0) {
    batch.events = unpack(bytes, header[0]);
    batch.stop = header[1] != 0;
  }
  return batch;
}

}  // namespace

StreamFeed::StreamFeed(Communicator& comm, std::unique_ptr<EventSource> source,
                       const StreamOptions& options, int64_t trained,
                       const std::atomic<int>* stop_signal)
    : comm_(comm),
      source_(std::move(source)),
      options_(options),
      trained_(trained),
      stop_signal_(stop_signal) {
  HYBREC_CHECK((comm.rank() == 0) == (source_ != nullptr),
               "StreamFeed: rank 0 and only rank 0 reads the source");
}

MicroBatch StreamFeed::poll() {
  MicroBatch batch;
  const auto ranks = static_cast<std::size_t>(comm_.size());
  std::size_t wanted = static_cast<std::size_t>(options_.batch);
  if (options_.stop_after > 0) {
    wanted = std::min<std::size_t>(
        wanted, static_cast<std::size_t>(std::max<int64_t>(0, options_.stop_after - trained_)));
  }
  const auto max_wait = std::chrono::milliseconds(options_.max_wait_ms);
  const auto idle = std::chrono::duration<double>(options_.idle_stop_s);
  Clock::time_point first{};
  // Idle is time spent waiting here with nothing arriving: the time the
  // trainers spent on the previous batch (a slow step, a checkpoint) is not
  // idle, and a source holding events is read before the limit is checked.
  Clock::time_point last_event = Clock::now();
  while (batch.events.size() < wanted) {
    if (stop_signal_ != nullptr && stop_signal_->load() != 0) {
      batch.stop = true;
      break;
    }
    if (batch.events.size() >= ranks && Clock::now() - first >= max_wait) break;
    std::vector<StreamEvent> got = source_->poll(wanted - batch.events.size(), kPollSlice);
    if (got.empty()) {
      if (options_.idle_stop_s > 0 && Clock::now() - last_event >= idle) {
        batch.stop = true;
        break;
      }
      continue;
    }
    if (batch.events.empty()) first = Clock::now();
    last_event = Clock::now();
    for (StreamEvent& e : got) batch.events.push_back(std::move(e));
  }
  if (wanted == 0 ||
      (options_.stop_after > 0 &&
       trained_ + static_cast<int64_t>(batch.events.size()) >= options_.stop_after)) {
    batch.stop = true;
  }
  // Fewer events than ranks only when stopping: left for the next run.
  if (batch.events.size() < ranks) batch.events.clear();
  return batch;
}

MicroBatch StreamFeed::next() {
  MicroBatch batch = share(comm_, comm_.rank() == 0 ? poll() : MicroBatch());
  trained_ += static_cast<int64_t>(batch.events.size());
  return batch;
}

void StreamFeed::ack(uint64_t position) {
  if (source_) source_->ack(position);
}

void replay_stream(Communicator& comm, const std::string& url, uint64_t position, int64_t batch,
                   const std::function<void(const std::vector<StreamEvent>&)>& apply) {
  std::unique_ptr<EventSource> source;
  if (comm.rank() == 0) source = open_event_source(url, EventSourceOptions{});
  uint64_t reached = 0;
  while (reached < position) {
    MicroBatch part;
    if (comm.rank() == 0) {
      part.events = source->poll(static_cast<std::size_t>(batch), kReplayWait);
      HYBREC_CHECK(!part.events.empty(), "stream ", url, ": no event after position ", reached,
                   " within ", kReplayWait.count(), " s, but the checkpoint was taken at position ",
                   position, " (were events dropped by the stream's retention?)");
      // A reader from the start may see events past the checkpoint's
      // position: those are the resumed run's to train on.
      part.events.erase(std::remove_if(part.events.begin(), part.events.end(),
                                       [&](const StreamEvent& e) { return e.position > position; }),
                        part.events.end());
      part.stop = part.events.empty() || part.events.back().position == position;
    }
    part = share(comm, std::move(part));
    apply(part.events);
    if (!part.events.empty()) reached = part.events.back().position;
    if (part.stop) break;
  }
  HYBREC_CHECK(reached == position, "stream ", url, ": replaying to the checkpoint's position ",
               position, " ended at position ", reached);
}

}  // namespace hybrec::trainer
