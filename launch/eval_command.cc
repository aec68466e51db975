// hybrec eval: placeholder until its owner lands it.
#include "hybrec/kernels/error.h"
#include "launch/commands.h"

namespace hybrec::launch {

int run_eval(int, char**) { HYBREC_THROW("hybrec eval is not built yet"); }

}  // namespace hybrec::launch
