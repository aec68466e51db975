// A small trained run for the serving suites that need a real one: a
// synthetic dataset (300 users, 200 items with texts) and 30 training steps
// through the `hybrec` binary, in a directory the caller owns.
#pragma once

#include <fstream>
#include <stdexcept>
#include <string>

#include "testing/command.h"

namespace hybrec::serving::testing {

// Trains into dir/run (train_args added to `hybrec train`, e.g. --ps) and
// returns that path; throws with the command's output when a step fails.
inline std::string train_small_run(const std::string& hybrec_bin, const std::string& dir,
                                   const std::string& train_args = "") {
  const std::string data = dir + "/synth.h5";
  auto r = hybrec::testing::run_command(hybrec_bin + " data synth --out " + data +
                                        " --users 300 --items 200 --events-per-user 15 --seed 3");
  if (r.status != 0) throw std::runtime_error("hybrec data synth failed:\n" + r.output);
  std::ofstream(dir + "/train.toml")
      << "[data]\npath = \"" << data << "\"\n"
      << "[train]\nbatch_size = 64\nnegatives = 8\nlog_every_s = 60\nthreads = 1\n"
         "max_steps = 30\neval_every = 30\n";
  const std::string run = dir + "/run";
  r = hybrec::testing::run_command(hybrec_bin + " train " + dir + "/train.toml --out " + run + " " +
                                   train_args);
  if (r.status != 0) throw std::runtime_error("hybrec train failed:\n" + r.output);
  return run;
}

}  // namespace hybrec::serving::testing
