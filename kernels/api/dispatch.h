// Backend dispatch shared by the api/ layer: argument checks are done once
// there, then the op runs on the CPU or the CUDA backend.
#pragma once

#include "hybrec/kernels/device.h"
#include "hybrec/kernels/error.h"

namespace hybrec::kernels::detail {

[[noreturn]] inline void no_cuda(const char* op) {
  HYBREC_THROW(op, ": the CUDA backend was requested but hybrec was built without CUDA");
}

// Runs `cpu_fn` or `cuda_fn` for the device and returns its result. Without
// CUDA the CUDA lambda is never called, so its (inline) body is never emitted
// and never references the missing backend symbols.
template <typename CpuFn, typename CudaFn>
auto dispatch(const char* op, const Device& device, CpuFn&& cpu_fn, CudaFn&& cuda_fn) {
  if (!device.is_cuda()) return cpu_fn();
#ifdef HYBREC_WITH_CUDA
  (void)op;
  return cuda_fn();
#else
  (void)cuda_fn;
  no_cuda(op);
#endif
}

}  // namespace hybrec::kernels::detail
