// A small trained run for the serving tests: a synthetic dataset (300 users,
// 200 items, hashing text vectors) and 30 training steps, under a second.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "testing/command.h"
#include "testing/temp_dir.h"

namespace hybrec::serving::testing {

// Trains into dir/run and returns that path; dir/synth.h5 is the dataset.
inline std::string train_tiny_run(const hybrec::testing::TempDir& dir, const std::string& bin) {
  const std::string data = dir / "synth.h5";
  auto r = hybrec::testing::run_command(bin + " data synth --out " + data +
                                        " --users 300 --items 200 --events-per-user 15 --seed 3");
  EXPECT_EQ(r.status, 0) << r.output;
  std::ofstream(dir / "train.toml")
      << "[data]\npath = \"" << data << "\"\n"
      << "[train]\nbatch_size = 64\nnegatives = 8\nlog_every_s = 60\nthreads = 1\n"
         "max_steps = 30\neval_every = 30\n";
  const std::string run = dir / "run";
  r = hybrec::testing::run_command(bin + " train " + (dir / "train.toml") + " --out " + run);
  EXPECT_EQ(r.status, 0) << r.output;
  return run;
}

}  // namespace hybrec::serving::testing
