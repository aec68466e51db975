// What a training rank will hold, stated before it allocates: the trainer
// prints the plan at start, refuses a config whose plan does not fit (with
// every part, its size and the key that sizes it), and after the first step
// logs the activations it measured beside the planned ones.
//
// The parts are estimates from the config's shapes, meant as upper bounds:
// the activations count every candidate and history item of a batch as
// distinct, and the history encoder's buffers per layer at their widest. On
// the CPU backend every part is host memory; on CUDA the parts marked
// on_device live on the GPU.
#pragma once

#include <string>
#include <vector>

#include "hybrec/kernels/device.h"
#include "trainer/data/dataset.h"
#include "trainer/loop/config.h"
#include "trainer/model/hybrid_model.h"

namespace hybrec::trainer {

struct MemoryPart {
  std::string name;  // what it holds
  std::string key;   // the config key that sizes it
  double bytes = 0;  // double: an absurd config's estimate cannot overflow
  bool on_device = false;
};

struct MemoryPlan {
  std::vector<MemoryPart> parts;
  double device_bytes() const;  // the on_device parts
  double total_bytes() const;
  const MemoryPart* find(const std::string& name) const;
  // One line per part, then the totals.
  std::string describe() const;
};

inline constexpr const char* kActivationsPart = "step activations";

// local_rows: the id tables live in this process (in-process servers).
MemoryPlan plan_training_memory(const TrainConfig& config, const HybridModel& model,
                                const Dataset& data, bool local_rows);

// Throws hybrec::Error with the plan when it does not fit: the device parts
// in train.device_memory_mib when set, else on CUDA in the device's free
// memory; everything (on the CPU, device parts included) in the host's
// available memory.
void check_memory_plan(const MemoryPlan& plan, const kernels::Device& device,
                       int64_t device_limit_mib);

}  // namespace hybrec::trainer
