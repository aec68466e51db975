// The Communicator over NCCL, for device buffers (built only when CUDA and
// NCCL are found: HYBREC_WITH_NCCL).
//
// Setup: rank 0 of `comm` creates the NCCL unique id and broadcasts it over
// MPI; every rank then joins the NCCL communicator on `device`. Collective
// over `comm`.
//
// start_allreduce_sum(data, count) takes a DEVICE pointer: the all-reduce
// runs on the communicator's own stream after everything already queued on
// `stream` (the stream that produced the gradient), so it overlaps with the
// rest of the backward. wait() blocks the host until the sum is in place
// (polling NCCL's asynchronous error, and giving up after
// HYBREC_NCCL_TIMEOUT_S, default 600 s, so that a dead peer ends the rank
// with a message instead of a hang) and also orders later work on `stream`
// after it. NCCL's algorithms (ring,
// tree) reduce each element once and pass that result on, so every rank
// gets the same bits.
//
// The double all-reduce, broadcast and barrier are host-side and go over MPI
// (make_mpi_communicator on the same `comm`).
//
// Status: compiled, not yet run on a GPU.
#pragma once

#include <mpi.h>

#include <memory>

#include "trainer/dist/communicator.h"

namespace hybrec::trainer {

// `stream` is a cudaStream_t (nullptr: the legacy default stream).
std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm comm, int device, void* stream);

}  // namespace hybrec::trainer
