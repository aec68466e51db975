// The `hybrec` subcommands. Each returns the process exit status and throws
// hybrec::Error for bad usage, which main prints with the usage text.
#pragma once

namespace hybrec::launch {

int run_ps(int argc, char** argv);      // hybrec ps ...
int run_ps_ctl(int argc, char** argv);  // hybrec ps-ctl ...

}  // namespace hybrec::launch
