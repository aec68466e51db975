// Which shard owns a key: the one small, replaceable piece of routing.
//
// The client routes requests with it and the server uses the same function
// when it loads a checkpoint written by a different number of shards, so a
// resharded key lands where clients will look for it.
#pragma once

#include <cstdint>
#include <memory>

namespace hybrec::ps {

class Slicer {
 public:
  virtual ~Slicer() = default;
  virtual int num_shards() const = 0;
  // In [0, num_shards()).
  virtual int shard_of(int64_t key) const = 0;
};

// Lamping & Veach's jump consistent hash: no table, balanced, and going from
// N to N+1 shards moves only 1/(N+1) of the keys.
int jump_consistent_hash(uint64_t key, int num_buckets);

class JumpHashSlicer final : public Slicer {
 public:
  // Throws hybrec::Error unless num_shards >= 1.
  explicit JumpHashSlicer(int num_shards);
  int num_shards() const override { return num_shards_; }
  int shard_of(int64_t key) const override;

 private:
  int num_shards_;
};

std::unique_ptr<Slicer> make_default_slicer(int num_shards);

}  // namespace hybrec::ps
