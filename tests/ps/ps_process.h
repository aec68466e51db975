// Real `hybrec ps` processes for the integration and fuzz tests: start one
// with arguments, learn its port from its first line of output, signal it,
// wait for it. The binary's path comes from the build (HYBREC_BIN).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "ps_testing.h"

namespace hybrec::ps::testing {

class PsProcess {
 public:
  // Starts `hybrec ps <args>` and waits (up to 30 s) for its "serving on"
  // line; fails the current test (and leaves running() false) otherwise.
  explicit PsProcess(std::vector<std::string> args);
  ~PsProcess();  // SIGKILL if still running
  PsProcess(const PsProcess&) = delete;
  PsProcess& operator=(const PsProcess&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // The first line it printed ("hybrec ps: shard I/N serving on ...").
  const std::string& banner() const { return banner_; }

  void signal(int sig);
  // Waits for exit; returns the exit status (128 + signal when killed).
  int wait();

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string banner_;
};

// A loopback TCP port that was free a moment ago, outside the ephemeral
// range, for restarting a shard at the same address.
int free_port();

}  // namespace hybrec::ps::testing
