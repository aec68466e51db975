// Real `hybrec serve` processes for the serving tests (on a run of
// small_run.h): a server started with --http-port 0, its port read from the
// line it prints when ready, and a clean stop.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace hybrec::serving::testing {


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
