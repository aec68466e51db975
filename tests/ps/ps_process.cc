#include "ps_process.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace hybrec::ps::testing {

PsProcess::PsProcess(std::vector<std::string> args) {
  int out[2];
  if (pipe(out) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return;
  }
  std::vector<std::string> argv_store = {HYBREC_BIN, "ps"};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  // Read the banner line (30 s budget: a restore of a checkpoint precedes it).
  std::string line;
  char c;
  pollfd pfd{out[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && poll(&pfd, 1, 30000) > 0) {
    if (read(out[0], &c, 1) != 1) break;
    line.push_back(c);
  }
  close(out[0]);  // later output goes nowhere; the server ignores SIGPIPE
  banner_ = line;
  const size_t at = line.rfind("127.0.0.1:");
  if (line.find("serving on") == std::string::npos || at == std::string::npos) {
    ADD_FAILURE() << "hybrec ps " << ::testing::PrintToString(args)
                  << " did not start; first output: '" << line << "'";
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return;
  }
  port_ = std::atoi(line.c_str() + at + std::strlen("127.0.0.1:"));
}

PsProcess::~PsProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void PsProcess::signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

int PsProcess::wait() {
  if (pid_ <= 0) return -1;
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int free_port() {
  // A port below the kernel's ephemeral range (32768-60999 by default): the
  // kernel never hands those out as the source port of an outgoing
  // connection or to a bind of port 0, so a shard restarted on its old port
  // cannot find it taken by some other test's connection in the meantime
  // (seen under a parallel ctest). Randomised so parallel tests rarely try
  // the same one; bound once to check it is free now.
  static std::atomic<unsigned> counter{0};
  const unsigned salt = static_cast<unsigned>(getpid()) * 2654435761u;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int port = 20000 + static_cast<int>((salt + counter++ * 7919u) % 12000u);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (free) return port;
  }
  return 0;
}

}  // namespace hybrec::ps::testing
