// The signals that ask `hybrec train` to checkpoint and stop: SIGTERM
// (scancel, Slurm preemption and time limits), SIGUSR1 (hybrec-launch's
// forwarding, sbatch --signal) and SIGINT (Ctrl-C). The run checkpoints after
// the current step on every rank and exits 0; `--resume` continues it.
// Schedulers may deliver the same signal more than once (to the step and
// through srun), so repeats are ignored; only a second SIGINT ends the
// process at once (an impatient user).
// `hybrec serve` stops on the same signals, after answering the requests in
// flight.
#pragma once

#include <atomic>

namespace hybrec::launch {

// Installs the handlers; returns the flag they set to the first signal's number.
const std::atomic<int>& install_stop_signals();

}  // namespace hybrec::launch
