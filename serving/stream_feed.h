// Serving's reader of the live event stream (the online trainer's source,
// read again): each event extends its user's history at once, so the next
// request of that user reflects it, and an item seen for the first time
// joins the catalogue (NewItems) with its text encoded. An ephemeral reader:
// it records no position with the broker. When the source fails the feed
// says why in error() and reopens after the last event it applied, once a
// second, while serving goes on with what it has.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "serving/histories.h"
#include "serving/new_items.h"
#include "serving/query_encoder.h"

namespace hybrec::serving {

class StreamFeed {
 public:
  // url: "file:PATH" or "nats://HOST:PORT/SUBJECT"; starts after position
  // start_after. encoder may be null (new items then get zero text rows).
  // on_new_item is called (on the feed's thread) after an item joined.
  StreamFeed(std::string url, uint64_t start_after, Histories& histories, NewItems& new_items,
             const QueryEncoder* encoder, std::function<void()> on_new_item);
  ~StreamFeed();  // stops the reader

  uint64_t position() const { return position_.load(); }  // the last event applied
  int64_t events() const { return events_.load(); }
  std::string error() const;  // "" while the source reads fine

 private:
  void run();

  const std::string url_;
  Histories& histories_;
  NewItems& new_items_;
  const QueryEncoder* encoder_;
  std::function<void()> on_new_item_;
  std::atomic<uint64_t> position_;
  std::atomic<int64_t> events_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::string error_;
  std::thread thread_;
};

}  // namespace hybrec::serving
