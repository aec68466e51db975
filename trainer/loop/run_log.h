// What a run tells its user: DIR/metrics.jsonl (one JSON object per event,
// appended and flushed as it happens, so a crashed run keeps what it logged)
// and the progress shown on rank 0: a one-line bar redrawn in place when
// stderr is a terminal, plain periodic lines otherwise (logs, CI, Slurm).
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace hybrec::trainer {

class MetricsLog {
 public:
  // Appends to `path` (created with its directory when missing). An empty
  // path logs nothing (ranks other than 0).
  explicit MetricsLog(const std::string& path);
  void write(const nlohmann::json& event);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

class Progress {
 public:
  Progress(int64_t total_steps, int64_t log_every_s, bool enabled);
  // Called after every step; draws at most every 0.2 s (terminal) or
  // log_every_s seconds (plain lines).
  void update(int64_t step, double samples_per_s, double loss);
  // A message on its own line (keeps the bar intact on a terminal).
  void note(const std::string& line);
  void finish();

 private:
  using Clock = std::chrono::steady_clock;
  int64_t total_;
  int64_t log_every_s_;
  bool enabled_;
  bool terminal_;
  bool drawn_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_ = Clock::time_point{};
};

}  // namespace hybrec::trainer
