#include "trainer/loop/run_log.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

MetricsLog::MetricsLog(const std::string& path) : path_(path) {
  if (path_.empty()) return;
  const auto dir = std::filesystem::path(path_).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir);
  out_.open(path_, std::ios::app);
  HYBREC_CHECK(out_.good(), "metrics log ", path_, ": cannot open for appending");
}

void MetricsLog::write(const nlohmann::json& event) {
  if (path_.empty()) return;
  out_ << event.dump() << "\n";
  out_.flush();
  HYBREC_CHECK(out_.good(), "metrics log ", path_, ": write failed");
}

namespace {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 359999) return "--";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buf;
}

}  // namespace

Progress::Progress(int64_t total_steps, int64_t log_every_s, bool enabled)
    : total_(total_steps),
      log_every_s_(log_every_s),
      enabled_(enabled),
      terminal_(enabled && ::isatty(STDERR_FILENO) != 0) {}

void Progress::update(int64_t step, double samples_per_s, double loss) {
  if (!enabled_) return;
  const auto now = Clock::now();
  const double since_last = std::chrono::duration<double>(now - last_).count();
  const bool last_step = step >= total_;
  if (!last_step && since_last < (terminal_ ? 0.2 : static_cast<double>(log_every_s_))) return;
  last_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double eta = step > 0 ? elapsed * static_cast<double>(total_ - step) / step : -1;
  char line[256];
  if (terminal_) {
    constexpr int kWidth = 24;
    const int filled = total_ > 0 ? static_cast<int>(kWidth * step / total_) : kWidth;
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::snprintf(line, sizeof line, "\r[%s] step %lld/%lld  %.0f samples/s  loss %.4f  ETA %s ",
                  bar.c_str(), static_cast<long long>(step), static_cast<long long>(total_),
                  samples_per_s, loss, format_duration(eta).c_str());
    std::cerr << line << std::flush;
    drawn_ = true;
  } else {
    std::snprintf(line, sizeof line, "step %lld/%lld  %.0f samples/s  loss %.4f  ETA %s\n",
                  static_cast<long long>(step), static_cast<long long>(total_), samples_per_s, loss,
                  format_duration(eta).c_str());
    std::cerr << line << std::flush;
  }
}

void Progress::note(const std::string& line) {
  if (!enabled_) return;
  if (drawn_) std::cerr << "\n";
  drawn_ = false;
  std::cerr << line << "\n" << std::flush;
}

void Progress::finish() {
  if (enabled_ && drawn_) std::cerr << "\n" << std::flush;
  drawn_ = false;
}

}  // namespace hybrec::trainer
