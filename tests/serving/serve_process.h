// Real `hybrec serve` processes for the serving tests: a tiny trained run to
// serve, a server started on it with --http-port 0, its port read from the
// line it prints when ready, and a clean stop.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace hybrec::serving::testing {

// Trains the small run the serving suites serve (synthetic data, 300 users,
// 200 items, 30 steps; about a second) into dir/run and returns that path;
// train_args go to `hybrec train` (e.g. external servers). Fails the current
// test when a command fails.
std::string make_tiny_run(const std::string& dir, const std::string& train_args = "");

class ServeProcess {
 public:
  // Starts `hybrec serve <args>` with its stdout in `log` and waits (up to
  // 60 s) for its "hybrec serve: http://HOST:PORT/" line; fails the current
  // test (and leaves running() false) otherwise.
  ServeProcess(std::vector<std::string> args, std::string log);
  ~ServeProcess();  // SIGKILL if still running
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  const std::string& banner() const { return banner_; }
  // SIGTERM, then the exit status (128 + signal when killed).
  int stop();

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string banner_;
};

}  // namespace hybrec::serving::testing
