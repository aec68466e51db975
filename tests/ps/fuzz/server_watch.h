// Watching the `hybrec ps` process under fuzzing: start it with its stderr in
// a file, tell whether and how it ended, read its memory use, check what it
// logged, fetch its stats, and cap its resident memory while the fuzzing runs.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ParameterServer.h"
#include "ps_process.h"
#include "tables.h"

namespace hybrec::ps::fuzz {

// Starts `hybrec ps` with its stderr in a file: sanitizer reports and Thrift's
// own logging land there, and the test reads them at the end.
std::unique_ptr<hybrec::ps::testing::PsProcess> start_server(const std::string& stderr_path,
                                                             std::vector<std::string> args);

// Empty while the process runs, else how it ended. WNOWAIT leaves it to
// PsProcess::wait() to reap.
std::string exit_of(pid_t pid);

bool wait_for_exit(pid_t pid, double timeout_s);

// "VmRSS" or "VmHWM" of a process, in KiB (-1 when unreadable).
int64_t vm_kib(pid_t pid, const std::string& field);

std::string read_file(const std::string& path);

std::string tail(const std::string& text, size_t n = 3000);

// Fails on any sanitizer or crash report in the server's stderr; prints what
// else it logged, grouped.
void check_server_log(const std::string& path);

wire::ServerStats fetch_stats(int port);

int64_t rows_of(const wire::ServerStats& stats, const std::string& table);

// Samples the server's resident memory while the fuzzing runs. Above the soft
// cap new connections wait, so the server can release what it holds; above the
// hard cap the server is killed, so a runaway cannot take the machine down
// (an unbounded allocation in the server once made the kernel OOM-kill it).
class MemoryWatch {
 public:
  MemoryWatch(pid_t pid, int64_t soft_mib, int64_t hard_mib);
  ~MemoryWatch() { stop(); }

  void stop();
  // Before each new connection; bounded so a stuck server cannot stall the test.
  void wait_below_soft_cap();
  int64_t peak_mib() const { return peak_kib_ >> 10; }
  int64_t episodes() const { return episodes_; }
  bool killed() const { return killed_; }

 private:
  void run();

  const pid_t pid_;
  const int64_t soft_kib_, hard_kib_;
  std::atomic<bool> stop_{false}, over_{false}, killed_{false};
  std::atomic<int64_t> peak_kib_{0}, episodes_{0};
  std::thread thread_;
};

}  // namespace hybrec::ps::fuzz
