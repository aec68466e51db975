// Training on the GPU (label gpu; skipped without a CUDA device): one rank,
// in-process parameter-server shards, the synthetic dataset. A CUDA run
// ends at the CPU run's test HR@10 within 0.01, with and without the row
// cache in write-through mode (S = 0, sync), and the cache's run stays
// within the kernels' tolerances of the run without it.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "hybrec/kernels/device.h"
#include "parameter_server/server/local_servers.h"
#include "testing/temp_dir.h"
#include "trainer/data/dataset.h"
#include "trainer/data/synth.h"
#include "trainer/dist/communicator.h"
#include "trainer/loop/config.h"
#include "trainer/loop/trainer.h"

namespace hybrec::trainer {
namespace {

class TrainGpu : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new hybrec::testing::TempDir("hybrec-train-gpu");
    SynthOptions o;
    o.users = 1500;
    o.items = 600;
    o.seed = 4;
    write_dataset(generate_synthetic(o), *dir_ / "synth.h5");
  }
  static void TearDownTestSuite() { delete dir_; }

  // One in-process run; returns its summary.
  static TrainSummary train(const std::string& name, const std::string& device,
                            const std::string& extra = "") {
    const std::string toml = "[data]\npath = \"" + (*dir_ / "synth.h5") +
                             "\"\n[model]\ndim = 64\nheads = 2\n[train]\nbatch_size = 128\n"
                             "epochs = 2\nsync = true\nthreads = 2\nlog_every_s = 60\ndevice = \"" +
                             device + "\"\n" + extra;
    TrainSetup setup;
    setup.config = parse_config(toml, name, {});
    setup.out_dir = *dir_ / name;
    auto comm = make_local_communicator();
    setup.comm = comm.get();
    std::unique_ptr<ps::LocalServers> servers;
    setup.start_servers = [&] {
      servers = std::make_unique<ps::LocalServers>(1, setup.out_dir + "/ps", 256 << 20);
      return servers->endpoints();
    };
    return run_training(setup);
  }

  static double warm_hr(const TrainSummary& s) {
    for (const auto& r : s.test) {
      if (r.split == "test" && r.subset == "warm") return r.hr;
    }
    ADD_FAILURE() << "no warm test result";
    return -1;
  }

  static hybrec::testing::TempDir* dir_;
};

hybrec::testing::TempDir* TrainGpu::dir_ = nullptr;

#define REQUIRE_GPU()                                                        \
  do {                                                                       \
    if (!kernels::cuda_compiled()) GTEST_SKIP() << "built without CUDA";     \
    if (kernels::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

TEST_F(TrainGpu, OneRankCudaRunReachesTheCpuRunsTestHr) {
  REQUIRE_GPU();
  const TrainSummary cpu = train("cpu", "cpu");
  const TrainSummary gpu = train("cuda", "cuda");
  ASSERT_EQ(cpu.steps, gpu.steps);
  EXPECT_NEAR(warm_hr(gpu), warm_hr(cpu), 0.01);
  EXPECT_GT(warm_hr(gpu), 0.05) << "the GPU run did not learn";
}

TEST_F(TrainGpu, WriteThroughCacheOnTheGpuMatchesTheCpuRun) {
  REQUIRE_GPU();
  const TrainSummary cpu = train("cpu-cache", "cpu", "cache_rows = 400\n");
  const TrainSummary gpu = train("cuda-cache", "cuda", "cache_rows = 400\n");
  const TrainSummary plain = train("cuda-plain", "cuda");
  EXPECT_NEAR(warm_hr(gpu), warm_hr(cpu), 0.01);
  // Against the same device without the cache: only the device's own
  // rounding separates them (the cache applies the same row update).
  ASSERT_EQ(gpu.params.size(), plain.params.size());
  double worst = 0;
  for (std::size_t i = 0; i < gpu.params.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(gpu.params[i]) - plain.params[i]));
  }
  EXPECT_LT(worst, 5e-3);
}

TEST_F(TrainGpu, TrainEventsCarryTheStepOnTheGpusClock) {
  REQUIRE_GPU();
  train("cuda-clock", "cuda", "epochs = 1\n");
  std::ifstream metrics(*dir_ / "cuda-clock/metrics.jsonl");
  int events = 0;
  for (std::string line; std::getline(metrics, line);) {
    const auto e = nlohmann::json::parse(line);
    if (e.value("event", "") != "train" || !e.contains("step_ms")) continue;
    ++events;
    ASSERT_TRUE(e.contains("device_ms")) << line;
    const auto& d = e["device_ms"];
    EXPECT_GT(d["forward_backward"].get<double>(), 0) << line;
    EXPECT_GT(d["upload"].get<double>(), 0) << line;
    EXPECT_NEAR(d["total"].get<double>(),
                d["upload"].get<double>() + d["forward_backward"].get<double>() +
                    d["download"].get<double>() + d["update"].get<double>(),
                1e-6)
        << line;
    // The GPU's spans lie inside the host's step (a little slack for the
    // clocks' different resolutions).
    EXPECT_GT(e["device_share"].get<double>(), 0) << line;
    EXPECT_LT(e["device_share"].get<double>(), 1.05) << line;
  }
  EXPECT_GT(events, 0) << "no train event with a step breakdown";
}

}  // namespace
}  // namespace hybrec::trainer
