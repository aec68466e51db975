// How a trainer-role command (train, eval) joins its peers: under mpirun it
// joins the MPMD job as a trainer rank (learning the server ranks' addresses
// and communicating with the other trainers over MPI); alone it is one rank
// with a local communicator and no MPI at all.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "launch/mpi_job.h"
#include "trainer/dist/communicator.h"

namespace hybrec::launch {

class TrainerRanks {
 public:
  TrainerRanks();
  // Without finish() (an error left the command) the MPI job aborts; see mpi_job.h.
  ~TrainerRanks() = default;

  trainer::Communicator& comm() { return *comm_; }
  // "host:port" of the server ranks in shard order; empty without MPI or servers.
  const std::vector<std::string>& servers() const { return servers_; }
  // Processes of the job on this machine (1 without MPI): they share its cores.
  int local_ranks() const { return job_ ? job_->node_size() : 1; }
  // This rank's place among the trainer ranks on this machine (0 without MPI).
  int local_trainer_rank() const { return job_ ? job_->node_role_rank() : 0; }
  // With several trainer ranks on CUDA: an NCCL communicator among them on
  // GPU `device` (the default stream), for the dense gradients; nullptr for
  // one rank. Throws when this build has no NCCL.
  trainer::Communicator* gradient_communicator(int device);
  // The end of this rank's work: the servers stop once every trainer got here.
  void finish();

 private:
  std::unique_ptr<MpiJob> job_;
  std::unique_ptr<trainer::Communicator> comm_, gradient_comm_;
  std::vector<std::string> servers_;
};

}  // namespace hybrec::launch
