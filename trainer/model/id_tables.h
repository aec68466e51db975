// The model's two id-embedding tables, by the names the parameter server
// knows them under (pulled by the trainer, by evaluation and by serving).
#pragma once

#include <cstdint>
#include <vector>

namespace hybrec::trainer {

inline constexpr const char* kUserTable = "user";
inline constexpr const char* kItemTable = "item";

// Flags [n] of the rows [n, dim] (host) that are exactly zero. With
// ModelConfig::unseen_items zero or learned the item table starts every row
// at zero, so a zero row is one that training has never moved: an item
// without a training event (a cold item, or one that arrived on a stream
// and has not been trained on yet).
inline std::vector<uint8_t> untrained_rows(const float* rows, int64_t n, int64_t dim) {
  std::vector<uint8_t> zero(static_cast<std::size_t>(n), 1);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < dim; ++k) {
      if (rows[i * dim + k] != 0.0f) {
        zero[static_cast<std::size_t>(i)] = 0;
        break;
      }
    }
  }
  return zero;
}

}  // namespace hybrec::trainer
