#include "launch/mpi_job.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>

#include "hybrec/kernels/error.h"
#include "trainer/dist/mpi_check.h"
#include "trainer/dist/mpi_communicator.h"

namespace hybrec::launch {

namespace {

// Control-plane waits poll this often; long enough to cost no CPU, short
// against process start and shutdown.
constexpr std::chrono::milliseconds kPollInterval{25};

// Set while an MpiEnvironment that initialised MPI has not finalized it.
bool g_abort_at_exit = false;

void abort_unfinished_job() {
  if (!g_abort_at_exit) return;
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) return;
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "hybrec: MPI rank %d exits without finishing the job; aborting every rank\n",
               rank);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

void wait_sleeping(MPI_Request* request) {
  for (;;) {
    int done = 0;
    HYBREC_MPI_CHECK(MPI_Test(request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    std::this_thread::sleep_for(kPollInterval);
  }
}

bool env_set(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] != '\0';
}

}  // namespace

bool launched_by_mpi() {
  return env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMI_SIZE") || env_set("PMIX_RANK");
}

MpiEnvironment::MpiEnvironment() {
  int initialized = 0;
  HYBREC_MPI_CHECK(MPI_Initialized(&initialized));
  if (initialized) {
    HYBREC_MPI_CHECK(MPI_Query_thread(&thread_level_));
    return;
  }
  HYBREC_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &thread_level_));
  owns_ = true;
  static const bool registered = std::atexit(abort_unfinished_job) == 0;
  g_abort_at_exit = registered;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  if (thread_level_ < MPI_THREAD_FUNNELED) {
    // Every MPI call of hybrec comes from the main thread, but other threads
    // exist (the server's, OpenMP's); an MPI that promises nothing for them
    // is not one hybrec can use.
    finalize();
    HYBREC_THROW("MPI provides thread level ", thread_level_,
                 " (MPI_THREAD_SINGLE); hybrec needs at least MPI_THREAD_FUNNELED");
  }
}

MpiEnvironment::~MpiEnvironment() {
  if (std::uncaught_exceptions() > 0) return;  // abort_unfinished_job ends the job at exit
  finalize();
}

void MpiEnvironment::finalize() {
  if (!owns_ || finalized_) return;
  finalized_ = true;
  g_abort_at_exit = false;
  MPI_Finalize();
}

void abort_mpi_job(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();  // MPI_Abort does not return; this is for the compiler
}

const char* role_name(JobRole role) { return role == JobRole::kServer ? "server" : "trainer"; }

MpiJob::MpiJob(JobRole role) : env_(std::make_unique<MpiEnvironment>()), role_(role) {
  HYBREC_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &world_));
  HYBREC_MPI_CHECK(MPI_Comm_set_errhandler(world_, MPI_ERRORS_RETURN));
  HYBREC_MPI_CHECK(MPI_Comm_rank(world_, &world_rank_));
  HYBREC_MPI_CHECK(MPI_Comm_size(world_, &world_size_));

  int mine = static_cast<int>(role);
  roles_.assign(static_cast<size_t>(world_size_), 0);
  HYBREC_MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT, roles_.data(), 1, MPI_INT, world_));
  for (int r : roles_) num_servers_ += r == static_cast<int>(JobRole::kServer);

  // Key = world rank: server rank order is world rank order, so shard i is
  // the i-th server in the mpirun command line.
  HYBREC_MPI_CHECK(MPI_Comm_split(world_, mine, world_rank_, &role_comm_));
  HYBREC_MPI_CHECK(MPI_Comm_set_errhandler(role_comm_, MPI_ERRORS_RETURN));
  HYBREC_MPI_CHECK(MPI_Comm_rank(role_comm_, &role_rank_));
  HYBREC_MPI_CHECK(MPI_Comm_size(role_comm_, &role_size_));

  MPI_Comm node = MPI_COMM_NULL;
  HYBREC_MPI_CHECK(
      MPI_Comm_split_type(world_, MPI_COMM_TYPE_SHARED, world_rank_, MPI_INFO_NULL, &node));
  HYBREC_MPI_CHECK(MPI_Comm_size(node, &node_size_));
  HYBREC_MPI_CHECK(MPI_Comm_free(&node));
  MPI_Comm node_role = MPI_COMM_NULL;
  HYBREC_MPI_CHECK(
      MPI_Comm_split_type(role_comm_, MPI_COMM_TYPE_SHARED, role_rank_, MPI_INFO_NULL, &node_role));
  HYBREC_MPI_CHECK(MPI_Comm_rank(node_role, &node_role_rank_));
  HYBREC_MPI_CHECK(MPI_Comm_free(&node_role));
}

MpiJob::~MpiJob() {
  if (finished_ || std::uncaught_exceptions() > 0) return;
  try {
    finish();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hybrec: MPI rank %d: finishing the job failed: %s\n", world_rank_,
                 e.what());
  }
}

std::vector<std::string> MpiJob::exchange_endpoints(const std::string& endpoint) {
  HYBREC_CHECK(!finished_, "exchange_endpoints after finish()");
  if (role_ == JobRole::kServer) {
    HYBREC_CHECK(!endpoint.empty(), "server rank ", world_rank_, " published no endpoint");
  } else {
    HYBREC_CHECK(endpoint.empty(), "trainer rank ", world_rank_, " published endpoint '", endpoint,
                 "'; only servers publish one");
  }
  int length = static_cast<int>(endpoint.size());
  std::vector<int> lengths(static_cast<size_t>(world_size_));
  MPI_Request request = MPI_REQUEST_NULL;
  HYBREC_MPI_CHECK(
      MPI_Iallgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, world_, &request));
  wait_sleeping(&request);

  std::vector<int> offsets(static_cast<size_t>(world_size_));
  int total = 0;
  for (int r = 0; r < world_size_; ++r) {
    offsets[static_cast<size_t>(r)] = total;
    total += lengths[static_cast<size_t>(r)];
  }
  std::string all(static_cast<size_t>(total), '\0');
  HYBREC_MPI_CHECK(MPI_Iallgatherv(endpoint.data(), length, MPI_CHAR, all.data(), lengths.data(),
                                   offsets.data(), MPI_CHAR, world_, &request));
  wait_sleeping(&request);

  std::vector<std::string> endpoints;
  for (int r = 0; r < world_size_; ++r) {
    const auto i = static_cast<size_t>(r);
    if (roles_[i] != static_cast<int>(JobRole::kServer)) continue;
    HYBREC_CHECK(lengths[i] > 0, "server rank ", r, " published no endpoint");
    endpoints.push_back(
        all.substr(static_cast<size_t>(offsets[i]), static_cast<size_t>(lengths[i])));
  }
  return endpoints;
}

std::unique_ptr<trainer::Communicator> MpiJob::make_communicator() const {
  HYBREC_CHECK(!finished_, "make_communicator after finish()");
  return trainer::make_mpi_communicator(role_comm_);
}

bool MpiJob::poll_finished() {
  if (finished_) return true;
  if (!end_entered_) {
    HYBREC_MPI_CHECK(MPI_Ibarrier(world_, &end_barrier_));
    end_entered_ = true;
  }
  int done = 0;
  HYBREC_MPI_CHECK(MPI_Test(&end_barrier_, &done, MPI_STATUS_IGNORE));
  return done != 0;
}

void MpiJob::finish() {
  if (finished_) return;
  if (!poll_finished()) wait_sleeping(&end_barrier_);
  MPI_Comm_free(&role_comm_);
  MPI_Comm_free(&world_);
  finished_ = true;
  env_->finalize();
}

}  // namespace hybrec::launch
