#include "serving/stream_feed.h"

#include <chrono>
#include <iostream>

#include "trainer/stream/event_source.h"

namespace hybrec::serving {

StreamFeed::StreamFeed(std::string url, uint64_t start_after, Histories& histories,
                       NewItems& new_items, const QueryEncoder* encoder,
                       std::function<void()> on_new_item)
    : url_(std::move(url)),
      histories_(histories),
      new_items_(new_items),
      encoder_(encoder),
      on_new_item_(std::move(on_new_item)),
      position_(start_after) {
  // Open once here so a bad URL fails the start of `hybrec serve`, naming it.
  trainer::EventSourceOptions options;
  options.start_after = start_after;
  trainer::open_event_source(url_, options);
  thread_ = std::thread([this] { run(); });
}

StreamFeed::~StreamFeed() {
  stopping_ = true;
  thread_.join();
}

std::string StreamFeed::error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

void StreamFeed::run() {
  const int64_t text_dim = encoder_ != nullptr ? encoder_->dim() : 0;
  while (!stopping_) {
    try {
      trainer::EventSourceOptions options;
      options.start_after = position_.load();
      std::unique_ptr<trainer::EventSource> source = trainer::open_event_source(url_, options);
      while (!stopping_) {
        for (const trainer::StreamEvent& e : source->poll(1024, std::chrono::milliseconds(100))) {
          bool joined = false;
          if (e.item >= new_items_.base_items()) {
            std::vector<float> emb(static_cast<std::size_t>(text_dim), 0.0f);
            if (encoder_ != nullptr && !e.item_text.empty()) emb = encoder_->encode(e.item_text);
            joined = new_items_.add(e.item, e.item_text, emb);
          }
          histories_.add(e.user, e.item);
          position_ = e.position;
          ++events_;
          if (joined && on_new_item_) on_new_item_();
        }
        std::lock_guard<std::mutex> lock(mutex_);
        error_.clear();
      }
    } catch (const std::exception& e) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (error_ != e.what()) {
          std::cerr << "hybrec serve: stream " << url_ << ": " << e.what()
                    << " (retrying every second)\n";
        }
        error_ = e.what();
      }
      for (int i = 0; i < 10 && !stopping_; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
}

}  // namespace hybrec::serving
