// The fuzz test's connections; see connections.h.
#include "connections.h"

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "frames.h"
#include "probes.h"
#include "raw_connection.h"
#include "wire_bytes.h"

namespace hybrec::ps::fuzz {

int checked_connection(int port, Rng& rng, const Snapshot& snap, Tally& tally, Failures& failures) {
  Conn c(port);
  ++tally.connections;
  if (!c.ok()) {
    failures.add("connect failed: " + c.error());
    return -1;
  }
  const int n = 1 + static_cast<int>(rng() % 8);
  int sent = 0;
  std::string reply;
  for (int i = 0; i < n; ++i) {
    const Probe p = make_probe(rng, snap);
    if (!c.send(p.frame, false)) {
      failures.add("the server dropped the connection before " + p.what);
      return sent;
    }
    ++tally.frames[kRejected];
    ++sent;
    const Conn::Read r = c.read_frame(&reply, 10000);
    if (r != Conn::Read::kData) {
      failures.add("no reply to " + p.what + ": " + read_name(r));
      return sent;
    }
    const std::string wrong = check_reply(p, reply);
    if (!wrong.empty()) failures.add(p.what + ": " + wrong);
    ++tally.replies_checked;
  }
  if (rng() % 10 < 3) {
    const auto [what, bytes] = make_drop(rng, snap);
    if (!c.send(bytes, false)) return sent;
    ++tally.frames[kDropped];
    ++sent;
    c.shutdown_write();
    int64_t answered = 0;
    const Conn::Read r = c.drain(10000, &answered);
    if (r != Conn::Read::kClosed || answered != 0) {
      failures.add("after a valid push in " + what + " the server " +
                   (answered ? "answered " + std::to_string(answered) + " bytes"
                             : std::string("kept the connection open")));
    }
    ++tally.drops_checked;
  }
  return sent;
}

int fuzz_connection(int port, Rng& rng, Tally& tally, Failures& failures) {
  std::vector<std::pair<Kind, std::string>> frames;
  const int n = 1 + static_cast<int>(rng() % 12);
  for (int i = 0; i < n; ++i) {
    Kind kind = pick_fuzz_kind(rng);
    if (kind == kTruncated && i + 1 < n) kind = kMutated;  // a cut-off frame ends a connection
    frames.emplace_back(kind, fuzz_frame(kind, rng));
    scrub(&frames.back().second);
  }
  Conn c(port);
  ++tally.connections;
  if (!c.ok()) {
    failures.add("connect failed: " + c.error());
    return -1;
  }
  int sent = 0;
  for (const auto& [kind, bytes] : frames) {
    if (!c.send(bytes, true)) break;  // the server dropped us: expected after junk
    ++tally.frames[kind];
    ++sent;
  }
  // Then leave: half-close and wait for the server to finish (it must close
  // its end), close outright, or reset.
  const uint64_t r = rng() % 100;
  if (r < 60) {
    c.shutdown_write();
    if (c.drain(15000) == Conn::Read::kTimeout) {
      failures.add("the server kept a half-closed fuzz connection open for 15 s");
    }
    ++tally.drained;
  } else if (r < 85) {
    ++tally.closed_early;
  } else {
    c.reset();
    ++tally.reset;
  }
  return sent;
}

void slow_connections(int port, uint64_t seed, const Snapshot& snap, Tally& tally,
                      Failures& failures) {
  Rng rng(seed);
  std::string reply;
  for (int i = 0; i < 24; ++i) {
    Conn c(port);
    ++tally.connections;
    if (!c.ok()) {
      failures.add("connect failed: " + c.error());
      return;
    }
    Probe p;
    bool complete = true;
    if (i % 3 == 0) {
      p = {"slow health", framed(encode([](auto& cl) { cl.send_health(); })), Call::kHealth, 0, ""};
    } else if (i % 3 == 1) {
      std::vector<int> index;
      const std::vector<int64_t> keys = pick_keys(rng, snap, 2, &index);
      p = {"slow push with a NaN", "", Call::kPush, 4, ""};
      p.frame = framed(encode(
          [&](auto& cl) { cl.send_push(kTable, pack(keys), with_non_finite(rng, 2), 0, 0); }));
    } else {
      complete = false;
      p.frame = framed(fuzz_message(rng));
      scrub(&p.frame);
      p.frame.resize(rng() % p.frame.size());
    }
    bool sent = true;
    for (char b : p.frame) {
      if (!(sent = c.send(std::string(1, b), false))) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ++tally.frames[kSlow];
    if (!complete) {
      if (rng() % 2) c.reset();
      continue;
    }
    const Conn::Read r = sent ? c.read_frame(&reply, 10000) : Conn::Read::kClosed;
    if (r != Conn::Read::kData) {
      failures.add("no reply to " + p.what + ": " + read_name(r));
      continue;
    }
    const std::string wrong = check_reply(p, reply);
    if (!wrong.empty()) failures.add(p.what + ": " + wrong);
    ++tally.replies_checked;
  }
}

}  // namespace hybrec::ps::fuzz
