// The trainer side of the MPMD tests, started by mpmd_test.cc as
//   mpirun -np 2 hybrec ps --mpi --port 0 ... : -np W dist_mpmd_trainer MODE TAG
// MODE work: learn the endpoints, create a table through PsClient, push and
// pull rows, check every shard's health, all-reduce among the trainers,
// finish. MODE finish: join and finish at once. MODE fail: trainer rank 1
// throws while rank 0 waits in a barrier that can never complete; the job
// must be aborted. MODE idle: trainer rank 0 sleeps 3 s before it
// finishes while everyone else waits for it (the driver checks that the
// waiting costs no CPU). TAG only marks the processes (the driver looks for
// leftovers by it). Structured like `hybrec train`: the error leaves
// through main, which prints it and returns 1.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "hybrec/kernels/error.h"
#include "launch/mpi_job.h"
#include "parameter_server/client/client.h"

namespace hybrec::trainer {
namespace {

using launch::JobRole;
using launch::launched_by_mpi;
using launch::MpiJob;

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

void work(MpiJob& job, const std::vector<std::string>& endpoints) {
  HYBREC_CHECK(static_cast<int>(endpoints.size()) == job.num_servers(), "got ", endpoints.size(),
               " endpoints for ", job.num_servers(), " servers");
  auto comm = job.make_communicator();
  HYBREC_CHECK(comm->size() == job.num_trainers() && comm->rank() == job.role_rank(),
               "trainer communicator rank ", comm->rank(), " of ", comm->size());

  ps::PsClient client(ps::parse_endpoints(join(endpoints)));
  const auto health = client.health();
  for (size_t i = 0; i < health.size(); ++i) {
    HYBREC_CHECK(health[i].reachable && health[i].shard_index == static_cast<int>(i) &&
                     health[i].num_shards == static_cast<int>(endpoints.size()),
                 "shard ", i, " at ", endpoints[i], ": reachable ", health[i].reachable, ", shard ",
                 health[i].shard_index, "/", health[i].num_shards, " ", health[i].error);
  }
  ps::TableSpec spec;
  spec.name = "emb";
  spec.dim = 4;
  spec.optimizer = ps::Optimizer::kSgd;
  spec.learning_rate = 0.5;
  client.create_table(spec);  // every trainer does; idempotent

  // Each trainer its own keys, spread over both shards.
  std::vector<int64_t> keys;
  for (int64_t k = 0; k < 64; ++k) keys.push_back(job.role_rank() * 100000 + k * 7);
  const int64_t n = static_cast<int64_t>(keys.size());
  std::vector<float> before(keys.size() * 4), after(keys.size() * 4), grads(keys.size() * 4, 1.0f);
  client.pull("emb", keys.data(), n, 4, before.data()).wait();
  client.push("emb", keys.data(), n, 4, grads.data()).wait();
  client.pull("emb", keys.data(), n, 4, after.data()).wait();
  for (size_t i = 0; i < before.size(); ++i) {
    HYBREC_CHECK(std::fabs(after[i] - (before[i] - 0.5f)) < 1e-6f, "row value ", i, ": ", after[i],
                 " after an SGD step from ", before[i]);
  }

  double ranks = comm->rank();
  comm->allreduce_sum(&ranks, 1);
  HYBREC_CHECK(ranks == comm->size() * (comm->size() - 1) / 2.0, "sum of ranks ", ranks);
  comm->barrier();
  std::printf("trainer %d: %zu shards answered, push/pull ok\n", job.role_rank(), endpoints.size());
}

int run(const std::string& mode) {
  HYBREC_CHECK(launched_by_mpi(), "dist_mpmd_trainer runs under mpirun");
  MpiJob job(JobRole::kTrainer);
  const auto endpoints = job.exchange_endpoints();
  if (mode == "work") {
    work(job, endpoints);
  } else if (mode == "fail") {
    auto comm = job.make_communicator();
    HYBREC_CHECK(job.role_rank() != 1, "trainer rank 1 fails on purpose");
    comm->barrier();  // never completes: rank 1 is gone
  } else if (mode == "idle") {
    if (job.role_rank() == 0) std::this_thread::sleep_for(std::chrono::seconds(3));
  } else {
    HYBREC_CHECK(mode == "finish", "unknown mode '", mode, "'");
  }
  job.finish();
  return 0;
}

}  // namespace
}  // namespace hybrec::trainer

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: dist_mpmd_trainer work|finish|fail|idle [TAG]\n";
    return 2;
  }
  try {
    return hybrec::trainer::run(argv[1]);
  } catch (const std::exception& e) {
    std::cerr << "dist_mpmd_trainer: error: " << e.what() << "\n";
    return 1;
  }
}
