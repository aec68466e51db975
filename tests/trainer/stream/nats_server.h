// A real nats-server with JetStream on loopback for the NATS source and sink
// tests: started on a free port with its own store directory, killed with
// SIGKILL and started again on the same port and store (the stream
// persists), stopped by the destructor. The binary is Debian's
// /usr/sbin/nats-server unless HYBREC_NATS_SERVER names another.
#pragma once

#include <sys/types.h>

#include <string>

#include "testing/temp_dir.h"

namespace hybrec::trainer::testing {

class NatsServer {
 public:
  // The binary this machine would run, and whether it is there.
  static std::string binary();
  static bool available();

  // Starts it and waits (up to 20 s) until it accepts connections; check
  // running() (a failure is recorded on the current test).
  NatsServer();
  ~NatsServer();  // SIGKILL if still running
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  void kill();   // SIGKILL, and reaped
  void start();  // same port, same store directory
  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  // "nats://127.0.0.1:PORT/SUBJECT"
  std::string url(const std::string& subject) const;
  // What it printed (for a failure message).
  std::string log() const;

 private:
  hybrec::testing::TempDir dir_{"hybrec-nats"};
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace hybrec::trainer::testing
