// One MPI job holding both roles (MPMD):
//
//   mpirun -np P hybrec ps --mpi --port 0 [...] : -np W hybrec train CONFIG [...]
//
// starts P parameter-server ranks and W trainer ranks in one MPI_COMM_WORLD.
// Every rank constructs one MpiJob with its role; the job splits the world
// into one communicator per role, servers publish "host:port" and every rank
// learns the list ordered by server rank (shard i is the i-th server rank),
// and at the end the servers stay up until every trainer has finished.
//
// A trainer:
//
//   if (launched_by_mpi()) {
//     MpiJob job(JobRole::kTrainer);
//     std::vector<std::string> servers = job.exchange_endpoints();  // "host:port", shard order
//     std::unique_ptr<Communicator> comm = job.make_communicator();  // over the trainers only
//     ... train ...
//     comm.reset();
//     job.finish();  // the servers checkpoint and exit once every trainer got here
//   } else {
//     // no MPI at all: make_local_communicator() and --ps host:port,...
//   }
//
// A server (see launch/ps_command.cc): MpiJob job(JobRole::kServer); bind;
// job.exchange_endpoints("host:port"); serve on another thread while the
// main thread polls job.poll_finished() every few tens of milliseconds;
// stop the server; job.finish().
//
// Every collective here is issued by the thread that constructed the job,
// so MPI_THREAD_FUNNELED suffices; the job asks for MPI_THREAD_MULTIPLE and
// reports what it got (thread_multiple()). The waits of the control plane
// (endpoint exchange, end of job) poll with MPI_Test and sleep ~25 ms between
// tests, so a server idling until the trainers finish, or a trainer waiting
// for servers to restore a checkpoint, costs no CPU.
//
// Errors: constructing and the collectives throw hybrec::Error. A job whose
// MpiJob is destroyed during stack unwinding (an exception left the role's
// code) does not finalize MPI: the other ranks may be blocked in collectives
// with this one and would never match a clean shutdown. Instead, when the
// process exits (main prints the error and returns), an atexit handler calls
// MPI_Abort(MPI_COMM_WORLD, 1), which makes mpirun end every rank and exit
// non-zero. An MpiJob destroyed normally without finish() finishes then.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>
#include <vector>

#include "trainer/dist/communicator.h"

namespace hybrec::launch {

// Whether a process manager that speaks MPI started this process (mpirun of
// Open MPI or MPICH, srun with PMI/PMIx): OMPI_COMM_WORLD_SIZE, PMI_SIZE or
// PMIX_RANK is set. `hybrec train` without mpirun never touches MPI.
bool launched_by_mpi();

// MPI_Init_thread (asking for MPI_THREAD_MULTIPLE) unless MPI is already
// initialised, MPI_Finalize when finalize() is called or on destruction,
// unless destroyed while an exception unwinds (see above). Works as an Open
// MPI singleton when not launched by mpirun. One per process.
class MpiEnvironment {
 public:
  MpiEnvironment();
  ~MpiEnvironment();
  MpiEnvironment(const MpiEnvironment&) = delete;
  MpiEnvironment& operator=(const MpiEnvironment&) = delete;

  // MPI_THREAD_SINGLE .. MPI_THREAD_MULTIPLE, as MPI provided it.
  int thread_level() const { return thread_level_; }
  // MPI_Finalize now (once; later calls do nothing). Only when this object
  // initialised MPI.
  void finalize();

 private:
  bool owns_ = false;
  bool finalized_ = false;
  int thread_level_ = MPI_THREAD_SINGLE;
};

// Ends the whole job at once: MPI_Abort(MPI_COMM_WORLD, code). For main's
// error path when it wants to abort before returning.
[[noreturn]] void abort_mpi_job(int code);

enum class JobRole { kServer = 0, kTrainer = 1 };
const char* role_name(JobRole role);  // "server", "trainer"

class MpiJob {
 public:
  // Initialises MPI (an MpiEnvironment) and splits MPI_COMM_WORLD by role.
  // Collective over MPI_COMM_WORLD: every rank constructs one.
  explicit MpiJob(JobRole role);
  ~MpiJob();
  MpiJob(const MpiJob&) = delete;
  MpiJob& operator=(const MpiJob&) = delete;

  JobRole role() const { return role_; }
  int world_rank() const { return world_rank_; }
  int world_size() const { return world_size_; }
  // Rank and size among the ranks of this job's role: a server's role_rank()
  // is its shard index and role_size() the number of shards.
  int role_rank() const { return role_rank_; }
  int role_size() const { return role_size_; }
  int num_servers() const { return num_servers_; }
  int num_trainers() const { return world_size_ - num_servers_; }
  // Ranks of the job (servers and trainers) on this machine, whatever the
  // launcher (mpirun, srun): what shares this machine's cores.
  int node_size() const { return node_size_; }
  // This rank's place among the ranks of its role on this machine (a
  // trainer's GPU, with train.device = "cuda").
  int node_role_rank() const { return node_role_rank_; }
  // The communicator of this role's ranks (owned by the job; valid until
  // finish()). Trainers all-reduce over it.
  MPI_Comm role_comm() const { return role_comm_; }
  bool thread_multiple() const { return env_->thread_level() >= MPI_THREAD_MULTIPLE; }

  // Collective over the world. Servers pass their "host:port", trainers an
  // empty string. Returns every server's endpoint ordered by server rank.
  // Throws hybrec::Error if a server passed an empty endpoint or a trainer a
  // non-empty one.
  std::vector<std::string> exchange_endpoints(const std::string& endpoint = "");

  // A Communicator over role_comm() (make_mpi_communicator). Destroy it
  // before finish().
  std::unique_ptr<trainer::Communicator> make_communicator() const;

  // Without blocking: enters the end-of-job barrier (on the first call) and
  // tells whether every rank has entered it, i.e. every trainer has called
  // finish(). Servers poll this while they serve.
  bool poll_finished();

  // Enters the end-of-job barrier if not yet, waits for every rank (sleeping
  // between polls) and finalizes MPI. No MPI call may follow. Idempotent.
  void finish();

 private:
  std::unique_ptr<MpiEnvironment> env_;
  JobRole role_;
  int world_rank_ = 0, world_size_ = 1;
  int role_rank_ = 0, role_size_ = 1;
  int num_servers_ = 0;
  int node_size_ = 1;
  int node_role_rank_ = 0;
  std::vector<int> roles_;          // by world rank
  MPI_Comm world_ = MPI_COMM_NULL;  // a duplicate of MPI_COMM_WORLD for the job's own traffic
  MPI_Comm role_comm_ = MPI_COMM_NULL;
  MPI_Request end_barrier_ = MPI_REQUEST_NULL;
  bool end_entered_ = false;
  bool finished_ = false;
};

}  // namespace hybrec::launch
