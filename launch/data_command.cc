// hybrec data: make dataset files (synth, import movielens|csv|recbole) and
// describe them (info). See trainer/data/ for what each one writes.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/flags.h"
#include "trainer/data/builder.h"
#include "trainer/data/csv_import.h"
#include "trainer/data/dataset.h"
#include "trainer/data/movielens.h"
#include "trainer/data/recbole_import.h"
#include "trainer/data/synth.h"

namespace hybrec::launch {

namespace {

using trainer::Dataset;
using trainer::ImportOptions;

constexpr const char* kUsage =
    "usage: hybrec data <subcommand> ...\n"
    "subcommands:\n"
    "  synth --out FILE [options]                  the synthetic demo dataset\n"
    "  import movielens DIR --out FILE [options]   MovieLens 100K or ml-latest-small\n"
    "  import csv FILE --out FILE [--text FILE]    generic user,item[,rating][,timestamp]\n"
    "  import recbole DIR --out FILE [options]     RecBole atomic files X.inter [+ X.item]\n"
    "  info FILE                                   users, items, splits, text embeddings\n"
    "Each subcommand takes --help.\n";

void add_import_flags(Flags& flags, double default_threshold) {
  flags.add("out", "FILE", "dataset file to write (replaced atomically)");
  flags.add("rating-threshold", "R",
            "keep events rated >= R as positives; 0 keeps all (default " +
                std::to_string(default_threshold).substr(0, 3) + ")");
  flags.add("cold-fraction", "F", "fraction of items held out as cold (default 0.2)");
  flags.add("seed", "S", "seed of the cold-item choice (default 1)");
  flags.add("text-dim", "T", "hashing text embedding dims, 0 = none (default 64)");
  flags.add("help", "", "print this help");
}

ImportOptions import_options(const Flags& flags, ImportOptions options) {
  options.rating_threshold = flags.get_double("rating-threshold", options.rating_threshold, 0, 1e9);
  options.cold_fraction = flags.get_double("cold-fraction", options.cold_fraction, 0, 0.99);
  options.seed = static_cast<uint64_t>(flags.get_int("seed", 1, 0, INT64_MAX));
  options.text_dim = flags.get_int("text-dim", options.text_dim, 0, 4096);
  return options;
}

// Writes `dataset` to --out and prints its summary and the time taken.
int save(const Dataset& dataset, const Flags& flags, std::chrono::steady_clock::time_point start) {
  const std::string out = flags.require("out");
  trainer::write_dataset(dataset, out);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "wrote " << out << " in " << seconds << " s\n" << trainer::describe(dataset);
  return 0;
}

// Refuses an --out that is one of the command's input files: the import
// would replace what it reads. Compared as files (std::filesystem::
// equivalent: another spelling, a symlink or a hard link is the same file)
// when both exist, else as normalized absolute paths.
void check_output_is_not_input(const std::string& command, const std::string& out,
                               const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  for (const std::string& in : inputs) {
    std::error_code ec;
    bool same = false;
    if (fs::exists(out, ec) && fs::exists(in, ec)) {
      same = fs::equivalent(out, in, ec) && !ec;
    } else {
      const fs::path a = fs::weakly_canonical(out, ec);
      const fs::path b = fs::weakly_canonical(in, ec);
      same = !ec && a == b;
    }
    HYBREC_CHECK(!same, command, ": --out ", out, " is the input file ", in,
                 " (writing the dataset would replace what it reads); choose another output file");
  }
}

bool wants_help(const Flags& flags) {
  if (!flags.has("help")) return false;
  std::cout << flags.help();
  return true;
}

int run_synth(int argc, char** argv) {
  Flags flags("hybrec data synth", "hybrec data synth --out FILE [options]");
  flags.add("out", "FILE", "dataset file to write (replaced atomically)");
  flags.add("users", "N", "users (default " + std::to_string(trainer::kSynthUsers) + ")");
  flags.add("items", "N", "items (default " + std::to_string(trainer::kSynthItems) + ")");
  flags.add("events-per-user", "E", "mean events per user, at least 3 (default 25)");
  flags.add("topics", "K",
            "planted topics (default " + std::to_string(trainer::kSynthTopics) + ")");
  flags.add("cold-fraction", "F", "fraction of items held out as cold (default 0.2)");
  flags.add("seed", "S", "random seed; same flags and seed, same dataset (default 1)");
  flags.add("text-dim", "T", "hashing text embedding dims, 0 = none (default 64)");
  flags.add("candidates", "N",
            "draw each event from N candidates (resampled, all cores) instead of a softmax over "
            "every item: O(N) per event, not O(items) per user, for 10^5 items and more; "
            "0 = exact (default 0, 64 is a good N)");
  flags.add("help", "", "print this help");
  flags.parse(argc, argv, 3);
  if (wants_help(flags)) return 0;
  HYBREC_CHECK(flags.positional().empty(), "hybrec data synth: unexpected argument '",
               flags.positional().front(), "'");
  const auto start = std::chrono::steady_clock::now();
  trainer::SynthOptions options;
  options.users = flags.get_int("users", options.users, 1, int64_t{1} << 30);
  options.items = flags.get_int("items", options.items, 6, int64_t{1} << 26);
  options.events_per_user = flags.get_double("events-per-user", options.events_per_user, 3, 1e5);
  options.topics = flags.get_int("topics", options.topics, 1, options.items);
  options.cold_fraction = flags.get_double("cold-fraction", options.cold_fraction, 0, 0.99);
  options.seed = static_cast<uint64_t>(flags.get_int("seed", 1, 0, INT64_MAX));
  options.text_dim = flags.get_int("text-dim", options.text_dim, 0, 4096);
  options.candidates = flags.get_int("candidates", options.candidates, 0, 4096);
  flags.require("out");
  return save(trainer::generate_synthetic(options), flags, start);
}

int run_import(int argc, char** argv) {
  HYBREC_CHECK(argc >= 4, "hybrec data import: which format? (movielens, csv or recbole)\n",
               kUsage);
  const std::string format = argv[3];
  const auto start = std::chrono::steady_clock::now();
  if (format == "movielens") {
    Flags flags("hybrec data import movielens",
                "hybrec data import movielens DIR --out FILE [options]");
    add_import_flags(flags, trainer::kMovieLensRatingThreshold);
    flags.parse(argc, argv, 4);
    if (wants_help(flags)) return 0;
    HYBREC_CHECK(flags.positional().size() == 1,
                 "hybrec data import movielens: expected one directory, got ",
                 flags.positional().size(), " arguments");
    const std::filesystem::path dir(flags.positional()[0]);
    std::vector<std::string> inputs{dir.string()};
    for (const char* name :
         {"u.data", "u.item", "u.genre", "ratings.csv", "movies.csv", "tags.csv"})
      inputs.push_back((dir / name).string());
    check_output_is_not_input("hybrec data import movielens", flags.require("out"), inputs);
    const ImportOptions options = import_options(flags, trainer::movielens_defaults());
    return save(trainer::import_movielens(flags.positional()[0], options), flags, start);
  }
  if (format == "csv") {
    Flags flags("hybrec data import csv",
                "hybrec data import csv FILE --out FILE [--text FILE] [options]");
    add_import_flags(flags, 0.0);
    flags.add("text", "FILE", "item,text file of item descriptions");
    flags.parse(argc, argv, 4);
    if (wants_help(flags)) return 0;
    HYBREC_CHECK(flags.positional().size() == 1,
                 "hybrec data import csv: expected one interactions file, got ",
                 flags.positional().size(), " arguments");
    std::vector<std::string> inputs{flags.positional()[0]};
    if (flags.has("text")) inputs.push_back(flags.require("text"));
    check_output_is_not_input("hybrec data import csv", flags.require("out"), inputs);
    const ImportOptions options = import_options(flags, ImportOptions());
    return save(trainer::import_csv(flags.positional()[0], flags.get("text", ""), options), flags,
                start);
  }
  if (format == "recbole") {
    Flags flags("hybrec data import recbole",
                "hybrec data import recbole DIR --out FILE [options]");
    add_import_flags(flags, 0.0);
    flags.parse(argc, argv, 4);
    if (wants_help(flags)) return 0;
    HYBREC_CHECK(flags.positional().size() == 1,
                 "hybrec data import recbole: expected one directory, got ",
                 flags.positional().size(), " arguments");
    const std::string& dir = flags.positional()[0];
    const trainer::RecboleFiles files = trainer::find_recbole_files(dir);
    std::vector<std::string> inputs{dir, files.inter};
    if (!files.item.empty()) inputs.push_back(files.item);
    check_output_is_not_input("hybrec data import recbole", flags.require("out"), inputs);
    const ImportOptions options = import_options(flags, ImportOptions());
    return save(trainer::import_recbole(dir, options), flags, start);
  }
  HYBREC_THROW("hybrec data import: unknown format '", format,
               "' (expected movielens, csv or recbole)");
}

int run_info(int argc, char** argv) {
  Flags flags("hybrec data info", "hybrec data info FILE");
  flags.add("help", "", "print this help");
  flags.parse(argc, argv, 3);
  if (wants_help(flags)) return 0;
  HYBREC_CHECK(flags.positional().size() == 1, "hybrec data info: expected one dataset file, got ",
               flags.positional().size(), " arguments");
  std::cout << trainer::describe(trainer::read_dataset(flags.positional()[0]));
  return 0;
}

}  // namespace

int run_data(int argc, char** argv) {
  const std::string sub = argc >= 3 ? argv[2] : "";
  if (sub.empty() || sub == "--help" || sub == "-h") {
    std::cout << kUsage;
    return sub.empty() ? 2 : 0;
  }
  if (sub == "synth") return run_synth(argc, argv);
  if (sub == "import") return run_import(argc, argv);
  if (sub == "info") return run_info(argc, argv);
  HYBREC_THROW("hybrec data: unknown subcommand '", sub, "'\n", kUsage);
}

}  // namespace hybrec::launch
