// hybrec train: placeholder until its owner lands it.
#include "hybrec/kernels/error.h"
#include "launch/commands.h"

namespace hybrec::launch {

int run_train(int, char**) { HYBREC_THROW("hybrec train is not built yet"); }

}  // namespace hybrec::launch
