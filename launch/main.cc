// hybrec: one command, one subcommand per role.
#include <cstring>
#include <iostream>
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
    "  eval     evaluate a checkpoint (hybrec eval --help)\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  try {
    if (command == "ps") return hybrec::launch::run_ps(argc, argv);
    if (command == "ps-ctl") return hybrec::launch::run_ps_ctl(argc, argv);
    if (command == "data") return hybrec::launch::run_data(argc, argv);
    if (command == "train") return hybrec::launch::run_train(argc, argv);
    if (command == "eval") return hybrec::launch::run_eval(argc, argv);
    std::cerr << "hybrec: unknown command '" << command << "'\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hybrec " << command << ": error: " << e.what() << "\n";
    return 1;
  }
}
