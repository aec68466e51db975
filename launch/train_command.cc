// hybrec train: one trainer rank. Alone it trains with in-process
// parameter-server shards (or --ps servers); under mpirun it joins the MPMD
// job, learns the server ranks' addresses through MPI and all-reduces with
// the other trainer ranks.
#include <filesystem>
#include <iostream>
#include <memory>
#include <system_error>

#include "hybrec/kernels/device.h"
#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/fault_injection.h"
#include "launch/flags.h"
#include "launch/overrides.h"
#include "launch/stop_signals.h"
#include "launch/trainer_ranks.h"
#include "parameter_server/server/local_servers.h"
#include "trainer/eval/evaluate.h"
#include "trainer/loop/run_dir.h"
#include "trainer/loop/trainer.h"

namespace hybrec::launch {

namespace {

constexpr const char* kUsage =
    "hybrec train CONFIG --out DIR [--set section.key=value ...] [--data FILE]\n"
    "             [--ps HOST:PORT,...] [--ps-dir DIR] [--resume DIR | --fresh]\n"
    "             [--stop-after-steps N] [--stream URL] [--device cpu|cuda]\n"
    "--device cuda: train on the GPU, one per trainer rank (sets train.device).\n"
    "--stream file:PATH or nats://HOST:PORT/SUBJECT: after the offline epochs, train\n"
    "online on the stream's events (the [stream] config keys; sets stream.url).\n"
    "--out on a directory that already holds a run is refused: continue it with\n"
    "--resume DIR, or discard it with --fresh. Nothing is written before every\n"
    "check passed (config, dataset, memory, run directory).\n"
    "Under mpirun (MPMD): mpirun -np P hybrec ps --mpi --port 0 --checkpoint-dir DIR/ps : \\\n"
    "                     -np W hybrec train CONFIG --out DIR";

}  // namespace

int run_train(int argc, char** argv) {
  SplitArgs args = take_overrides(argc, argv);
  Flags flags("hybrec train", kUsage);
  flags.add("out", "DIR", "run directory: metrics.jsonl, checkpoints/, config.toml");
  flags.add("data", "FILE", "dataset file (overrides data.path)");
  flags.add("ps", "LIST", "external parameter servers host:port,... in shard order");
  flags.add("ps-dir", "DIR",
            "where the servers write snapshots (their --checkpoint-dir; default DIR/ps)");
  flags.add("resume", "DIR",
            "continue the run in DIR from DIR/checkpoints/latest (--out defaults to DIR)");
  flags.add("fresh", "",
            "--out DIR holds an old run: discard it (DIR/checkpoints, metrics.jsonl, config.toml "
            "and the snapshot dir when inside DIR) and start over");
  flags.add("stop-after-steps", "N", "checkpoint and stop after N steps (as if preempted)");
  flags.add("stream", "URL",
            "after the offline epochs, train online on this event stream (sets stream.url)");
  flags.add("device", "cpu|cuda", "where the step runs (sets train.device)");
  flags.add("help", "", "print this help");
  flags.parse(static_cast<int>(args.rest.size()), args.rest.data(), 2);
  if (flags.has("help")) {
    std::cout << flags.help();
    return 0;
  }
  HYBREC_CHECK(flags.positional().size() == 1, "hybrec train: expected one CONFIG file, got ",
               flags.positional().size(), " arguments");
  if (flags.has("data")) args.overrides.push_back("data.path=" + flags.require("data"));
  if (flags.has("stream")) args.overrides.push_back("stream.url=" + flags.require("stream"));
  if (flags.has("device")) args.overrides.push_back("train.device=" + flags.require("device"));

  trainer::TrainSetup setup;
  setup.config = trainer::load_config(flags.positional()[0], args.overrides);
  HYBREC_CHECK(!setup.config.data_path.empty(), "config ", flags.positional()[0],
               ": data.path is not set (or pass --data FILE)");
  HYBREC_CHECK(flags.has("out") || flags.has("resume"),
               "hybrec train: --out DIR (or --resume DIR) is required");
  setup.out_dir = flags.has("out") ? flags.require("out") : flags.require("resume");
  if (flags.has("resume") && flags.has("out")) {
    HYBREC_CHECK(
        std::filesystem::path(flags.require("resume")) == std::filesystem::path(setup.out_dir),
        "hybrec train: --resume ", flags.require("resume"), " and --out ", setup.out_dir,
        " name different run directories");
  }
  setup.ps_dir = flags.get("ps-dir", "");
  setup.resume = flags.has("resume");
  setup.fresh = flags.has("fresh");
  HYBREC_CHECK(!(setup.resume && setup.fresh),
               "hybrec train: --resume continues a run and --fresh discards it; pass one");
  const std::string ps_dir =
      setup.ps_dir.empty() ? (std::filesystem::path(setup.out_dir) / "ps").string() : setup.ps_dir;
  const std::string old_run = setup.resume ? "" : trainer::existing_run(setup.out_dir);
  HYBREC_CHECK(old_run.empty() || setup.fresh, "hybrec train: --out ", setup.out_dir,
               " already holds a run (", old_run, "); continue it with --resume ", setup.out_dir,
               ", or discard it and start over with --fresh");
  setup.stop_after_steps = flags.get_int("stop-after-steps", 0, 0, 1LL << 40);
  setup.stop_signal = &install_stop_signals();
  setup.before_latest_moves = checkpoint_fault_from_env();

  TrainerRanks ranks;
  setup.local_ranks = ranks.local_ranks();
  setup.local_trainer_rank = ranks.local_trainer_rank();
  const std::vector<std::string>& servers = ranks.servers();
  if (flags.has("ps")) {
    setup.endpoints = ps::parse_endpoints(flags.require("ps"));
  } else if (!servers.empty()) {
    std::string list;
    for (const auto& s : servers) list += (list.empty() ? "" : ",") + s;
    setup.endpoints = ps::parse_endpoints(list);
  }
  setup.comm = &ranks.comm();
  if (setup.config.train.device == trainer::TrainDevice::kCuda && ranks.comm().size() > 1) {
    const int gpus = kernels::cuda_device_count();
    HYBREC_CHECK(gpus > 0, "train.device = \"cuda\": no CUDA device is visible");
    setup.grad_comm = ranks.gradient_communicator(setup.local_trainer_rank % gpus);
  }
  // Servers started elsewhere (MPMD ranks, --ps) loaded their snapshot dir
  // when they started: --fresh cannot take an old run's rows back from them.
  if (setup.fresh && !setup.endpoints.empty() && setup.config.model.use_id) {
    std::error_code ec;
    HYBREC_CHECK(
        !std::filesystem::is_directory(ps_dir, ec) || std::filesystem::is_empty(ps_dir, ec),
        "hybrec train --fresh: the servers' snapshot dir ", ps_dir,
        " holds the old run's snapshots, which servers started before this trainer have "
        "loaded; remove it before starting the servers, or use a new --out");
  }
  // --fresh clears a snapshot dir only inside the run directory.
  if (setup.fresh && !old_run.empty() && !trainer::is_inside(ps_dir, setup.out_dir)) {
    std::error_code ec;
    HYBREC_CHECK(
        !std::filesystem::is_directory(ps_dir, ec) || std::filesystem::is_empty(ps_dir, ec),
        "hybrec train --fresh: --ps-dir ", ps_dir, " lies outside ", setup.out_dir,
        " and holds snapshots; --fresh removes only what is inside the run directory");
  }
  // A one-process run without servers serves its id tables from shards
  // of its own, threads of this process on loopback ports, started by the
  // trainer once its checks passed.
  std::unique_ptr<ps::LocalServers> local_servers;
  if (setup.endpoints.empty() && setup.config.model.use_id) {
    HYBREC_CHECK(ranks.comm().size() == 1, ranks.comm().size(),
                 " trainer ranks need shared parameter servers: add server ranks to the mpirun "
                 "command (-np P hybrec ps --mpi : ...) or pass --ps host:port,...");
    setup.start_servers = [&] {
      local_servers =
          std::make_unique<ps::LocalServers>(static_cast<int>(setup.config.ps.local_shards), ps_dir,
                                             setup.config.ps.max_frame_mib << 20);
      return local_servers->endpoints();
    };
  }
  const bool rank0 = ranks.comm().rank() == 0;
  ranks.comm().barrier();  // every rank checked DIR before rank 0 writes into it
  const trainer::TrainSummary summary = trainer::run_training(setup);
  if (rank0) {
    std::cout << "trained " << summary.steps << " steps on " << ranks.comm().size() << " rank"
              << (ranks.comm().size() > 1 ? "s" : "") << ", "
              << static_cast<long long>(summary.samples_per_s) << " samples/s, last loss "
              << summary.last_loss << "\n";
    if (!setup.config.stream.url.empty()) {
      std::cout << "online: " << summary.stream_events << " events of " << setup.config.stream.url
                << " trained, up to position " << summary.stream_position;
      if (summary.prequential_hr >= 0) {
        std::cout << ", prequential HR@" << setup.config.stream.prequential_k << " "
                  << summary.prequential_hr;
      }
      std::cout << "\n";
    }
    if (!summary.test.empty()) std::cout << trainer::format_results(summary.test);
    if (summary.preempted) {
      std::cout << "stopped by a signal after a checkpoint; continue with: hybrec train "
                << flags.positional()[0] << " --resume " << setup.out_dir << "\n";
    }
  }
  ranks.finish();
  return 0;
}

}  // namespace hybrec::launch
