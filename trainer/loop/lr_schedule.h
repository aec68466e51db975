// The dense learning rate at a step: linear warmup from lr/warmup to lr over
// warmup_steps, then linear or cosine decay to min_lr_ratio * lr at the last
// step (or constant with decay = none).
#pragma once

#include <cstdint>

#include "trainer/loop/config.h"

namespace hybrec::trainer {

double learning_rate(const TrainOptions& options, int64_t step, int64_t total_steps);

}  // namespace hybrec::trainer
