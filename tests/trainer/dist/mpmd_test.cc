// The MPMD job end to end: `mpirun -np 2 hybrec ps --mpi --port 0 : -np 2
// dist_mpmd_trainer MODE`, run from here so the test can bound its time,
// read its exit status and then look for processes left behind (every
// process of a run carries the run's unique directory on its command line).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/temp_dir.h"

namespace {

namespace fs = std::filesystem;

struct RunResult {
  int status = -1;  // exit status; -1 when killed after the deadline
  double seconds = 0;
  double cpu_seconds = 0;  // user + system of the run and every process it waited for
  std::string output;
};

// Runs argv with stdout and stderr into `log`; SIGKILLs it (and its process
// group) after timeout_s.
RunResult run(const std::vector<std::string>& args, const fs::path& log, double timeout_s) {
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  RunResult result;
  int status = 0;
  rusage usage{};
  for (;;) {
    const pid_t done = wait4(pid, &status, WNOHANG, &usage);
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (done == pid) {
      result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      result.cpu_seconds =
          static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
          1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
      break;
    }
    if (result.seconds > timeout_s) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  result.output = text.str();
  return result;
}

// Pids (other than this process) whose command line mentions `tag`.
std::vector<int> processes_with(const std::string& tag) {
  std::vector<int> found;
  DIR* proc = opendir("/proc");
  while (dirent* entry = readdir(proc)) {
    const int pid = std::atoi(entry->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    std::ifstream in(std::string("/proc/") + entry->d_name + "/cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find(tag) != std::string::npos) found.push_back(pid);
  }
  closedir(proc);
  return found;
}

// Waits up to a few seconds for the run's processes to be gone.
std::vector<int> leftovers(const std::string& tag) {
  std::vector<int> left;
  for (int i = 0; i < 50; ++i) {
    left = processes_with(tag);
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (int pid : left) kill(pid, SIGKILL);
  return left;
}

class MpmdJob : public ::testing::Test {
 protected:
  RunResult run_job(const std::string& mode, int trainers, double timeout_s) {
    std::vector<std::string> args = {HYBREC_MPIEXEC,
                                     "--oversubscribe",
                                     "-np",
                                     "2",
                                     HYBREC_BIN,
                                     "ps",
                                     "--mpi",
                                     "--port",
                                     "0",
                                     "--checkpoint-dir",
                                     (dir_ / "ckpt").string(),
                                     ":",
                                     "-np",
                                     std::to_string(trainers),
                                     HYBREC_MPMD_TRAINER,
                                     mode,
                                     dir_.string()};
    return run(args, dir_ / "log.txt", timeout_s);
  }

  hybrec::testing::TempDir tmp_{"hybrec_mpmd"};
  fs::path dir_ = tmp_.path();
};

TEST_F(MpmdJob, TrainersUseShardsPublishedThroughMpiThenServersCheckpointAndExit) {
  const RunResult r = run_job("work", 2, 90);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("trainer 0: 2 shards answered"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("trainer 1: 2 shards answered"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("shard 0/2 stopped after every trainer finished"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("shard 1/2 stopped after every trainer finished"), std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "ckpt" / "latest")) << r.output;
  EXPECT_EQ(leftovers(dir_.string()), std::vector<int>{});
}

TEST_F(MpmdJob, ServersExitAsSoonAsEveryTrainerFinished) {
  const RunResult r = run_job("finish", 3, 60);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_LT(r.seconds, 30) << r.output;
  EXPECT_EQ(leftovers(dir_.string()), std::vector<int>{});
}

// Two servers and a trainer wait 3 s for the other trainer: polling with
// sleeps costs next to nothing, where spinning would cost about 2 cores for
// 3 s. (mpirun waits for its ranks, so their time is in its rusage.)
TEST_F(MpmdJob, WaitingRanksDoNotSpin) {
  const RunResult r = run_job("idle", 2, 60);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_GE(r.seconds, 3);
  EXPECT_LT(r.cpu_seconds, 2.0) << "over " << r.seconds << " s\n" << r.output;
  std::printf("idle run: %.2f s wall, %.2f s CPU over all processes\n", r.seconds, r.cpu_seconds);
  EXPECT_EQ(leftovers(dir_.string()), std::vector<int>{});
}

TEST_F(MpmdJob, ATrainerErrorAbortsEveryRank) {
  const RunResult r = run_job("fail", 2, 60);
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.status, -1) << "mpirun hung; killed after the deadline\n" << r.output;
  EXPECT_NE(r.output.find("trainer rank 1 fails on purpose"), std::string::npos) << r.output;
  EXPECT_EQ(leftovers(dir_.string()), std::vector<int>{});
}

TEST_F(MpmdJob, PsMpiRefusesToRunWithoutMpirun) {
  const RunResult r = run({HYBREC_BIN, "ps", "--mpi", "--port", "0"}, dir_ / "log.txt", 30);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("not started by mpirun"), std::string::npos) << r.output;
}

}  // namespace
