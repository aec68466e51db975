// Fault injection for the recovery tests, read from the environment in one
// place: HYBREC_FAULT=kill-in-checkpoint:STEP kills rank 0 with SIGKILL
// while it writes step STEP's checkpoint, after the server snapshot and
// trainer.h5 but before checkpoints/latest moves (tests/cluster/faults_test.sh).
#pragma once

#include <cstdint>
#include <functional>

namespace hybrec::launch {

// The hook for TrainSetup::before_latest_moves, or an empty function when
// HYBREC_FAULT is unset. Throws hybrec::Error naming the value when it is
// set to anything else than kill-in-checkpoint:STEP.
std::function<void(int64_t step)> checkpoint_fault_from_env();

}  // namespace hybrec::launch
