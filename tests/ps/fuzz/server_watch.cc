// The server process under fuzzing; see server_watch.h.
#include "server_watch.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <thrift/TConfiguration.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <utility>

namespace hybrec::ps::fuzz {

namespace at = apache::thrift;
using hybrec::ps::testing::PsProcess;

std::unique_ptr<PsProcess> start_server(const std::string& stderr_path,
                                        std::vector<std::string> args) {
  std::fflush(stderr);
  const int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  const int log = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (saved < 0 || log < 0) {
    ADD_FAILURE() << "cannot redirect stderr to " << stderr_path << ": " << std::strerror(errno);
    return std::make_unique<PsProcess>(std::move(args));
  }
  dup2(log, STDERR_FILENO);  // the child inherits fd 2 (dup2 clears close-on-exec)
  close(log);
  auto process = std::make_unique<PsProcess>(std::move(args));
  dup2(saved, STDERR_FILENO);
  close(saved);
  return process;
}

std::string exit_of(pid_t pid) {
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return std::string("waitid: ") + std::strerror(errno);
  }
  if (info.si_pid == 0) return "";
  if (info.si_code == CLD_EXITED) return "exited with status " + std::to_string(info.si_status);
  return std::string("killed by signal ") + strsignal(info.si_status) +
         (info.si_code == CLD_DUMPED ? " (core dumped)" : "");
}

bool wait_for_exit(pid_t pid, double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < deadline) {
    if (!exit_of(pid).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return !exit_of(pid).empty();
}

int64_t vm_kib(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1);
  }
  return -1;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string tail(const std::string& text, size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

void check_server_log(const std::string& path) {
  const std::string log = read_file(path);
  for (const char* bad : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                          "ThreadSanitizer", "terminate called", "Segmentation fault"}) {
    EXPECT_EQ(log.find(bad), std::string::npos) << "the server's stderr holds '" << bad << "':\n"
                                                << tail(log, 20000);
  }
  std::map<std::string, int> kinds;
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line)) {
    // Thrift prefixes a timestamp; group by what follows it.
    if (line.rfind("Thrift: ", 0) == 0 && line.size() > 33) line = line.substr(33);
    ++kinds[line.substr(0, 60)];
  }
  std::printf("server stderr: %zu bytes, %zu kinds of line\n", log.size(), kinds.size());
  std::vector<std::pair<int, std::string>> top;
  for (const auto& [text, count] : kinds) top.emplace_back(count, text);
  std::sort(top.rbegin(), top.rend());
  for (size_t i = 0; i < top.size() && i < 8; ++i) {
    std::printf("  %6d x %s\n", top[i].first, top[i].second.c_str());
  }
}

wire::ServerStats fetch_stats(int port) {
  auto config = std::make_shared<at::TConfiguration>(static_cast<int>(kMaxFrame),
                                                     static_cast<int>(kMaxFrame));
  auto socket = std::make_shared<at::transport::TSocket>("127.0.0.1", port, config);
  socket->setConnTimeout(5000);
  socket->setRecvTimeout(20000);
  socket->setSendTimeout(20000);
  auto transport = std::make_shared<at::transport::TFramedTransport>(socket, config);
  wire::ParameterServerClient client(
      std::make_shared<at::protocol::TBinaryProtocol>(transport, 0, 0, true, true));
  transport->open();
  wire::ServerStats stats;
  client.stats(stats);
  transport->close();
  return stats;
}

int64_t rows_of(const wire::ServerStats& stats, const std::string& table) {
  for (const auto& t : stats.tables) {
    if (t.spec.name == table) return t.rows;
  }
  return -1;
}

MemoryWatch::MemoryWatch(pid_t pid, int64_t soft_mib, int64_t hard_mib)
    : pid_(pid), soft_kib_(soft_mib << 10), hard_kib_(hard_mib << 10), thread_([this] { run(); }) {}

void MemoryWatch::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void MemoryWatch::wait_below_soft_cap() {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (over_ && !stop_ && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void MemoryWatch::run() {
  while (!stop_) {
    const int64_t rss = vm_kib(pid_, "VmRSS");
    if (rss > peak_kib_) peak_kib_ = rss;
    if (rss > hard_kib_ && !killed_) {
      kill(pid_, SIGKILL);
      killed_ = true;
    }
    const bool over = rss > soft_kib_;
    if (over && !over_) ++episodes_;
    over_ = over;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace hybrec::ps::fuzz
