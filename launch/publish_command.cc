// hybrec publish: replays a dataset's events in time order into an event
// stream (trainer/stream/event_source.h), as a live system would send them:
// the online trainer's input in tests, benchmarks and demos.
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/flags.h"
#include "trainer/data/dataset.h"
#include "trainer/data/time_order.h"
#include "trainer/stream/event_source.h"

namespace hybrec::launch {

namespace {

using trainer::Split;

constexpr const char* kUsage =
    "hybrec publish --data FILE.h5 --to URL [--split train|valid|test|cold|all]\n"
    "               [--rate EVENTS_PER_S] [--limit N] [--from-time-quantile Q]\n"
    "URL: file:PATH (an append-only JSON-lines log) or nats://HOST:PORT/SUBJECT.\n"
    "Events go out in time order; an item's first event in the replay carries its\n"
    "text when no event before the replay's start has that item (a new item).";

// Which splits --split keeps: one of them, or all.
std::vector<bool> split_mask(const std::string& name) {
  const char* names[] = {"train", "valid", "test", "cold"};
  if (name == "all") return {true, true, true, true};
  std::vector<bool> mask(4, false);
  for (int s = 0; s < 4; ++s) {
    if (name == names[s]) mask[static_cast<std::size_t>(s)] = true;
  }
  HYBREC_CHECK(mask != std::vector<bool>(4, false), "hybrec publish: --split '", name,
               "' is not one of train, valid, test, cold, all");
  return mask;
}

}  // namespace

int run_publish(int argc, char** argv) {
  Flags flags("hybrec publish", kUsage);
  flags.add("data", "FILE", "dataset file (hybrec data)");
  flags.add("to", "URL", "the stream to append to: file:PATH or nats://HOST:PORT/SUBJECT");
  flags.add("split", "S", "train, valid, test, cold or all (default all)");
  flags.add("rate", "R", "events per second; 0 = as fast as possible (default 0)");
  flags.add("limit", "N", "publish at most N events; 0 = all (default 0)");
  flags.add("from-time-quantile", "Q",
            "only events at or after this time quantile of the dataset's events (default 0)");
  flags.add("help", "", "print this help");
  flags.parse(argc, argv, 2);
  if (flags.has("help")) {
    std::cout << flags.help();
    return 0;
  }
  HYBREC_CHECK(flags.positional().empty(), "hybrec publish: unexpected argument '",
               flags.positional().front(), "'");
  const std::vector<bool> keep = split_mask(flags.get("split", "all"));
  const double rate = flags.get_double("rate", 0.0, 0.0, 1e9);
  const int64_t limit = flags.get_int("limit", 0, 0, INT64_MAX);
  const double quantile = flags.get_double("from-time-quantile", 0.0, 0.0, 1.0);
  const std::string url = flags.require("to");
  const trainer::Dataset data = trainer::read_dataset(flags.require("data"));
  // The stream opens only once the flags and the dataset passed their checks.
  auto sink = trainer::open_event_sink(url);

  const int64_t from = trainer::time_quantile(data, quantile);
  // Items with an event before the replay: known to a model trained on that past.
  std::vector<bool> seen(static_cast<std::size_t>(data.num_items), false);
  for (int64_t i = 0; i < data.num_interactions(); ++i) {
    if (data.timestamp[i] < from) seen[static_cast<std::size_t>(data.item[i])] = true;
  }
  const auto start = std::chrono::steady_clock::now();
  int64_t published = 0, with_text = 0;
  for (int64_t i : trainer::events_in_time_order(data, from)) {
    if (limit > 0 && published >= limit) break;
    if (!keep[static_cast<std::size_t>(data.split[i])]) continue;
    trainer::StreamEvent e;
    e.user = data.user[i];
    e.item = data.item[i];
    e.timestamp = data.timestamp[i];
    auto item = static_cast<std::size_t>(e.item);
    if (!seen[item]) {
      seen[item] = true;
      e.item_text = data.item_text[item];
      with_text += !e.item_text.empty();
    }
    if (rate > 0) {
      std::this_thread::sleep_until(
          start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(static_cast<double>(published) / rate)));
    }
    sink->publish(e);
    ++published;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "published " << published << " events (" << with_text
            << " with a new item's text) to " << sink->describe() << " in " << seconds << " s\n";
  return 0;
}

}  // namespace hybrec::launch
