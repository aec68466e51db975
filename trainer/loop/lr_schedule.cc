#include "trainer/loop/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace hybrec::trainer {

double learning_rate(const TrainOptions& o, int64_t step, int64_t total_steps) {
  if (o.warmup_steps > 0 && step < o.warmup_steps) {
    return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  }
  if (o.decay == Decay::kNone) return o.lr;
  const int64_t span = std::max<int64_t>(1, total_steps - 1 - o.warmup_steps);
  const double t =
      std::clamp(static_cast<double>(step - o.warmup_steps) / static_cast<double>(span), 0.0, 1.0);
  const double floor = o.min_lr_ratio * o.lr;
  const double shape = o.decay == Decay::kLinear ? 1.0 - t : 0.5 * (1.0 + std::cos(M_PI * t));
  return floor + (o.lr - floor) * shape;
}

}  // namespace hybrec::trainer
