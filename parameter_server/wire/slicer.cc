#include "parameter_server/wire/slicer.h"

#include "hybrec/kernels/error.h"
#include "parameter_server/wire/row_init.h"

namespace hybrec::ps {

int jump_consistent_hash(uint64_t key, int num_buckets) {
  int64_t b = -1, j = 0;
  while (j < num_buckets) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = static_cast<int64_t>(static_cast<double>(b + 1) * (static_cast<double>(1LL << 31) /
                                                           static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<int>(b);
}

JumpHashSlicer::JumpHashSlicer(int num_shards) : num_shards_(num_shards) {
  HYBREC_CHECK(num_shards >= 1, "number of shards must be at least 1, got ", num_shards);
}

// Keys are often dense ids (0, 1, 2, ...); mixing them first keeps jump
// hash's LCG from seeing correlated inputs.
int JumpHashSlicer::shard_of(int64_t key) const {
  return jump_consistent_hash(mix13(static_cast<uint64_t>(key) ^ 0x5bd1e9955bd1e995ULL),
                              num_shards_);
}

std::unique_ptr<Slicer> make_default_slicer(int num_shards) {
  return std::make_unique<JumpHashSlicer>(num_shards);
}

}  // namespace hybrec::ps
