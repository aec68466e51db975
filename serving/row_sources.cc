#include "serving/row_sources.h"

namespace hybrec::serving {

LiveRows::LiveRows(std::vector<ps::Endpoint> endpoints, ps::ClientOptions options, int64_t dim)
    : endpoints_(std::move(endpoints)), options_(std::move(options)), dim_(dim) {
  describe_ = "parameter servers";
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    describe_ += (i == 0 ? " " : ",") + endpoints_[i].to_string();
  }
}

LiveRows::~LiveRows() = default;

trainer::RowFetcher LiveRows::fetcher() {
  return [this](const std::string& table, const int64_t* keys, int64_t n, float* out) {
    fetch(table, keys, n, out);
  };
}

void LiveRows::fetch(const std::string& table, const int64_t* keys, int64_t n, float* out) {
  std::unique_ptr<ps::PsClient> client;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      client = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (client == nullptr) client = std::make_unique<ps::PsClient>(endpoints_, options_);
  try {
    client->pull(table, keys, n, dim_, out, ps::PullMode::kReadOnly).wait();
  } catch (...) {
    ++errors_;
    throw;  // the client is dropped: its connections may be half-open
  }
  std::lock_guard<std::mutex> lock(mutex_);
  idle_.push_back(std::move(client));
}

}  // namespace hybrec::serving
