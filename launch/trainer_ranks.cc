#include "launch/trainer_ranks.h"

namespace hybrec::launch {

TrainerRanks::TrainerRanks() {
  if (launched_by_mpi()) {
    job_ = std::make_unique<MpiJob>(JobRole::kTrainer);
    servers_ = job_->exchange_endpoints();
    comm_ = job_->make_communicator();
  } else {
    comm_ = trainer::make_local_communicator();
  }
}

void TrainerRanks::finish() {
  comm_.reset();  // its MPI communicator goes before the job finalizes MPI
  if (job_) job_->finish();
}

}  // namespace hybrec::launch
