// The Communicator over MPI, for host buffers.
//
// Identical results on every rank: a float all-reduce is a reduce to rank 0
// (MPI_Ireduce) followed by a broadcast of rank 0's sum (MPI_Ibcast), so every
// element is summed exactly once, in whatever order MPI's reduce picks, and
// every rank receives those same bits. MPI_Iallreduce does not promise this
// across all its algorithms, rank counts and message sizes, and the trainer
// relies on bit-identical dense parameters. The double all-reduce used for
// metrics is built the same way (blocking).
//
// Pipelining: several all-reduces may be in flight. Each one's broadcast is
// started once its reduce is complete here, strictly in start order, so every
// rank issues the same sequence of collectives. Reduces and broadcasts travel
// on two private duplicates of the given communicator and the blocking
// helpers on a third, so none of them can match another's messages.
// Progress: Open MPI moves non-blocking collectives forward only inside MPI
// calls; every start_allreduce_sum() and wait() advances all in-flight ones,
// so the reduces of early buckets run while the backward produces later ones.
//
// Waiting: wait() blocks in MPI_Wait. Open MPI polls there; when a node is
// oversubscribed (more ranks than cores, mpirun --oversubscribe) it sets
// mpi_yield_when_idle and the poll loop calls sched_yield, so a waiting rank
// gives its core to the others rather than starving them.
//
// Threads: one thread uses a communicator at a time (the one that started an
// all-reduce also waits on it), and with MPI_THREAD_FUNNELED that thread must
// be the one that initialised MPI.
//
// Counts above INT_MAX elements are split into several collectives.
#pragma once

#include <mpi.h>

#include <memory>

#include "trainer/dist/communicator.h"

namespace hybrec::trainer {

// Duplicates `comm` (collective over it); the given communicator stays the
// caller's. Throws hybrec::Error when MPI fails.
std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm comm);

}  // namespace hybrec::trainer
