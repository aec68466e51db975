#include "launch/report_metrics.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "hybrec/kernels/error.h"

namespace hybrec::launch {

namespace fs = std::filesystem;

bool ModelMetrics::any() const {
  for (const auto& s : subsets)
    if (s.present) return true;
  return false;
}

namespace {

// One metrics.jsonl line being read, for messages that name it.
struct Line {
  const std::string& path;
  int64_t number;
  const nlohmann::json& event;

  // The number under `key`; empty when the key is absent or null.
  std::optional<double> number_at(const std::string& key) const {
    const auto it = event.find(key);
    if (it == event.end() || it->is_null()) return std::nullopt;
    HYBREC_CHECK(it->is_number(), path, " line ", number, ": \"", key, "\" is ", it->dump(),
                 ", not a number");
    return it->get<double>();
  }
  std::string string_at(const std::string& key) const {
    const auto it = event.find(key);
    return it != event.end() && it->is_string() ? it->get<std::string>() : std::string();
  }
};

int subset_index(const std::string& subset) {
  for (std::size_t i = 0; i < kReportSubsets.size(); ++i)
    if (subset == kReportSubsets[i]) return static_cast<int>(i);
  return -1;
}

SubsetMetrics read_subset(const Line& line, const std::string& k) {
  SubsetMetrics s;
  s.present = true;
  s.hr = line.number_at("hr@" + k);
  s.ndcg = line.number_at("ndcg@" + k);
  for (std::size_t i = 0; i < kBeyondAccuracy.size(); ++i)
    s.beyond[i] = line.number_at(std::string(kBeyondAccuracy[i]) + "@" + k);
  return s;
}

std::vector<CurvePoint> to_curve(const std::map<int64_t, double>& by_step) {
  std::vector<CurvePoint> curve;
  curve.reserve(by_step.size());
  for (const auto& [step, value] : by_step) curve.push_back({step, value});
  return curve;
}

}  // namespace

RunMetrics read_run_metrics(const std::string& dir, int k) {
  std::error_code ec;
  HYBREC_CHECK(fs::is_directory(dir, ec), "run directory ", dir, " does not exist",
               fs::exists(dir, ec) ? " (it is not a directory)" : "");
  const std::string path = (fs::path(dir) / "metrics.jsonl").string();
  HYBREC_CHECK(fs::exists(path, ec), dir, " holds no metrics.jsonl (not a run directory?)");
  std::ifstream in(path);
  HYBREC_CHECK(in.good(), "cannot read ", path);

  RunMetrics run;
  run.name = fs::path(dir).filename().string();
  if (run.name.empty()) run.name = fs::path(dir).parent_path().filename().string();
  const std::string K = std::to_string(k);
  const std::string hr = "hr@" + K;

  ModelMetrics own, checkpoint;
  own.name = run.name;
  std::vector<ModelMetrics> baselines;
  std::map<int64_t, double> loss_by_step, valid_by_step;
  std::string text;
  int64_t line_no = 0;
  while (std::getline(in, text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json e;
    try {
      e = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& ex) {
      HYBREC_THROW(path, " line ", line_no, ": not JSON: ", ex.what());
    }
    HYBREC_CHECK(e.is_object(), path, " line ", line_no, ": not a JSON object");
    const Line line{path, line_no, e};
    const std::string event = line.string_at("event");
    const auto step = line.number_at("step");
    if (event == "throughput") {
      run.samples_per_s = line.number_at("samples_per_s");
      const auto ranks = line.number_at("ranks");
      if (ranks) run.ranks = static_cast<int64_t>(*ranks);
    } else if (event == "train") {
      const auto loss = line.number_at("loss");
      if (step && loss) loss_by_step[static_cast<int64_t>(*step)] = *loss;
    }
    if (event != "eval" || !e.contains(hr)) continue;
    const std::string split = line.string_at("split");
    const std::string source = line.string_at("source");
    if (split == "valid" && source.empty()) {
      const auto value = line.number_at(hr);
      if (step && value) valid_by_step[static_cast<int64_t>(*step)] = *value;
      continue;
    }
    const int subset = subset_index(line.string_at("subset"));
    if (split != "test" || subset < 0) continue;
    ModelMetrics* row = &own;
    if (source == "hybrec eval") {
      const std::string model = line.string_at("model");
      if (model.empty() || model == "checkpoint") {
        row = &checkpoint;
      } else {
        const std::string name = run.name + "/" + model;
        row = nullptr;
        for (auto& b : baselines)
          if (b.name == name) row = &b;
        if (row == nullptr) {
          baselines.emplace_back();
          row = &baselines.back();
          row->name = name;
          row->baseline = true;
        }
      }
    }
    row->subsets[subset] = read_subset(line, K);
  }
  HYBREC_CHECK(!in.bad(), "error reading ", path);

  if (!own.any()) {
    checkpoint.name = own.name;
    own = checkpoint;
  }
  // A directory that only `hybrec eval --baseline ... --out DIR` wrote into
  // has no model of its own: no empty row for it.
  if (own.any() || baselines.empty()) run.models.push_back(std::move(own));
  for (auto& b : baselines) run.models.push_back(std::move(b));
  run.train_loss = to_curve(loss_by_step);
  run.valid_hr = to_curve(valid_by_step);
  return run;
}

}  // namespace hybrec::launch
