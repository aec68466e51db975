#include "launch/trainer_ranks.h"

#include "hybrec/kernels/error.h"

#ifdef HYBREC_WITH_NCCL
#include "trainer/dist/nccl_communicator.h"
#endif

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

trainer::Communicator* TrainerRanks::gradient_communicator(int device) {
  if (!job_ || comm_->size() == 1) return nullptr;
#ifdef HYBREC_WITH_NCCL
  if (!gradient_comm_)
    gradient_comm_ = trainer::make_nccl_communicator(job_->role_comm(), device, nullptr);
  return gradient_comm_.get();
#else
  (void)device;
  HYBREC_THROW("train.device = \"cuda\" on ", comm_->size(),
               " trainer ranks needs NCCL for the dense gradients; this build has none (NCCL "
               "was not found when it was configured)");
#endif
}

void TrainerRanks::finish() {
  gradient_comm_.reset();
  comm_.reset();  // its MPI communicator goes before the job finalizes MPI
  if (job_) job_->finish();
}

}  // namespace hybrec::launch
