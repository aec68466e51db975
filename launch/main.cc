// hybrec: one command, one subcommand per role.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <new>
#include <string>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"

namespace {

constexpr const char* kUsage =
    "usage: hybrec <command> [options]\n"
    "commands:\n"
    "  ps       serve one parameter-server shard (hybrec ps --help)\n"
    "  ps-ctl   health, stats, save and load of running shards (hybrec ps-ctl --help)\n"
    "  data     make datasets: synth, import movielens|csv, info (hybrec data --help)\n"
    "  train    train a model (hybrec train --help)\n"
    "  eval     evaluate a checkpoint (hybrec eval --help)\n"
    "  report   compare runs: HR/NDCG on warm, cold and cold_all items, beyond-accuracy\n"
    "           metrics, samples/s; --plot draws curves and bars (hybrec report --help)\n"
    "  embed    text embeddings from a BERT sentence encoder (hybrec embed --help)\n"
    "  publish  replay a dataset's events into an event stream (hybrec publish --help)\n"
    "  recommend ask a running `hybrec serve` for a user's list (hybrec recommend --help)\n"
    "  serve    answer recommendation requests over HTTP and Thrift (hybrec serve --help)\n"
    "  explain  one sentence on why a run recommends an item to a user (hybrec explain --help)\n"
    "  generate text from a GGUF language model (hybrec generate --help)\n";

// The compute commands run OpenMP kernels next to parameter-server threads
// and other ranks on the same cores. libgomp's default is to spin while
// waiting, which on a shared or oversubscribed machine starves the rank's
// own threads (measured: 20x slower steps with 2 threads under load). The
// runtime reads OMP_WAIT_POLICY when it loads, before main, so hybrec sets
// it to passive and re-executes itself once, unless the user chose a policy.
void prefer_passive_openmp_waits(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  ::setenv("OMP_WAIT_POLICY", "passive", 1);
  ::execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  if (command == "train" || command == "eval" || command == "serve" || command == "explain" ||
      command == "generate") {
    prefer_passive_openmp_waits(argv);
  }
  try {
    if (command == "ps") return hybrec::launch::run_ps(argc, argv);
    if (command == "ps-ctl") return hybrec::launch::run_ps_ctl(argc, argv);
    if (command == "data") return hybrec::launch::run_data(argc, argv);
    if (command == "train") return hybrec::launch::run_train(argc, argv);
    if (command == "eval") return hybrec::launch::run_eval(argc, argv);
    if (command == "report") return hybrec::launch::run_report(argc, argv);
    if (command == "embed") return hybrec::launch::run_embed(argc, argv);
    if (command == "publish") return hybrec::launch::run_publish(argc, argv);
    if (command == "recommend") return hybrec::launch::run_recommend(argc, argv);
    if (command == "serve") return hybrec::launch::run_serve(argc, argv);
    if (command == "explain") return hybrec::launch::run_explain(argc, argv);
    if (command == "generate") return hybrec::launch::run_generate(argc, argv);
    std::cerr << "hybrec: unknown command '" << command << "'\n" << kUsage;
    return 2;
  } catch (const std::bad_alloc&) {
    // The last resort: the commands check what a config needs against the
    // machine's memory before they allocate it (hybrec/kernels/host_memory.h).
    std::cerr << "hybrec " << command
              << ": error: out of memory (an allocation failed; the config or dataset asks for "
                 "more memory than this machine has: reduce its sizes)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "hybrec " << command << ": error: " << e.what() << "\n";
    return 1;
  }
}
