#include "trainer/loop/memory_plan.h"

#include <sstream>

#include "hybrec/kernels/error.h"
#include "hybrec/kernels/host_memory.h"
#include "parameter_server/wire/table_spec.h"
#include "trainer/model/param_layout.h"

namespace hybrec::trainer {

double MemoryPlan::device_bytes() const {
  double sum = 0;
  for (const auto& p : parts) sum += p.on_device ? p.bytes : 0;
  return sum;
}

double MemoryPlan::total_bytes() const {
  double sum = 0;
  for (const auto& p : parts) sum += p.bytes;
  return sum;
}

const MemoryPart* MemoryPlan::find(const std::string& name) const {
  for (const auto& p : parts) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string MemoryPlan::describe() const {
  std::ostringstream out;
  for (const auto& p : parts) {
    out << "  " << p.name << " (" << p.key << "): " << kernels::format_bytes(p.bytes)
        << (p.on_device ? ", on the device" : "") << "\n";
  }
  out << "  total " << kernels::format_bytes(total_bytes()) << ", of which on the device "
      << kernels::format_bytes(device_bytes());
  return out.str();
}

MemoryPlan plan_training_memory(const TrainConfig& c, const HybridModel& model, const Dataset& data,
                                bool local_rows) {
  const ModelConfig& m = model.config();
  const double d = static_cast<double>(m.dim), T = static_cast<double>(m.text_dim);
  const double B = static_cast<double>(c.train.batch_size);
  const double C = static_cast<double>(c.train.negatives + 1);
  const double L = m.use_history ? static_cast<double>(m.history_len) : 0.0;
  const double layers = static_cast<double>(m.layers), F = static_cast<double>(ffn_hidden(m));
  const double heads = static_cast<double>(m.heads);
  const double users = static_cast<double>(data.num_users);
  const double items = static_cast<double>(data.num_items);
  // Row-wise Adagrad keeps one state float per row, Adam 2 d + 1.
  const double state = c.train.sparse_optimizer == SparseOptimizer::kAdam ? 2 * d + 1 : 1;
  MemoryPlan plan;
  auto add = [&](const char* name, const char* key, double floats, bool on_device) {
    plan.parts.push_back({name, key, 4 * floats, on_device});
  };
  // Parameters, gradient, Adam m and v, the all-reduce buffer and the
  // checkpoint copies.
  add("dense parameters, gradients, Adam moments and copies", "model.*",
      8 * static_cast<double>(model.num_params()), true);
  add(kActivationsPart, "train.batch_size, train.negatives, model.history_len, model.layers",
      B * C * (4 * d + T) + B * L * (layers * (8 * d + 2 * F + heads * L) + 4 * d), true);
  // Two batches in flight (pulled rows, their gradients, the pushes).
  const double batch_keys = B + std::min(items, B * (C + L));
  add("pulled rows and row gradients of two batches", "train.batch_size",
      2 * batch_keys * (3 * d + state), false);
  // Evaluation runs on the CPU backend whatever train.device says.
  add("item vectors for evaluation", "data (items x (model.dim + text dim))", items * 2 * (d + T),
      c.train.device == TrainDevice::kCpu);
  if (c.train.device == TrainDevice::kCuda) {
    // On the GPU besides the model: the items' text, and one batch's rows
    // and row gradients; on the host the dense parameters' copy.
    add("item text on the device", "data (items x text dim)", items * T, true);
    add("batch rows and row gradients on the device", "train.batch_size", batch_keys * 2 * d, true);
    add("host copy of the dense parameters", "model.*", static_cast<double>(model.num_params()),
        false);
  }
  if (local_rows && m.use_id) {
    add("id rows with optimizer state (in-process servers)", "data (users + items)",
        (users + items) * (d + state) * 1.5, false);
  }
  if (c.train.cache_rows > 0 && m.use_id) {
    const double rows = 2 * static_cast<double>(c.train.cache_rows);  // user and item tables
    add("row caches: rows and optimizer state", "train.cache_rows", rows * (d + state), true);
    // The rows as last read (for the write-back's deltas), the slot index,
    // and the frequency of every key seen.
    add("row caches: host index and last-read rows", "train.cache_rows",
        rows * (d + state + 24) + (users + items) * 16, false);
  }
  return plan;
}

void check_memory_plan(const MemoryPlan& plan, const kernels::Device& device,
                       int64_t device_limit_mib) {
  double device_limit = 0;
  std::string limit_source;
  if (device_limit_mib > 0) {
    device_limit = static_cast<double>(device_limit_mib) * 1024 * 1024;
    limit_source = "train.device_memory_mib = " + std::to_string(device_limit_mib);
  } else if (device.is_cuda()) {
    device_limit = static_cast<double>(kernels::cuda_free_memory_bytes());
    limit_source = "the GPU's free memory";
  }
  HYBREC_CHECK(device_limit == 0 || plan.device_bytes() <= device_limit, "training needs about ",
               kernels::format_bytes(plan.device_bytes()), " on the device, more than the ",
               kernels::format_bytes(device_limit), " of ", limit_source,
               "; lower the keys named here:\n", plan.describe());
  std::string source;
  const auto host = static_cast<double>(kernels::available_host_memory_bytes(&source));
  const double host_needed =
      device.is_cuda() ? plan.total_bytes() - plan.device_bytes() : plan.total_bytes();
  HYBREC_CHECK(host_needed <= host, "training needs about ", kernels::format_bytes(host_needed),
               " of host memory, more than the ", kernels::format_bytes(host), " available (",
               source, "); lower the keys named here:\n", plan.describe());
}

}  // namespace hybrec::trainer
