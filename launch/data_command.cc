// hybrec data: placeholder until its owner lands it.
#include "hybrec/kernels/error.h"
#include "launch/commands.h"

namespace hybrec::launch {

int run_data(int, char**) { HYBREC_THROW("hybrec data is not built yet"); }

}  // namespace hybrec::launch
