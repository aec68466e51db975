#include "parameter_server/wire/huge_pages.h"

#include <malloc.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>

namespace hybrec::ps {

namespace {
size_t round_up(size_t bytes, size_t to) { return (bytes + to - 1) / to * to; }
constexpr size_t kMaxRegionBytes = size_t{64} << 20;
}  // namespace

void* allocate_huge(size_t bytes) {
  const size_t size = round_up(std::max<size_t>(bytes, 1), kHugePageBytes);
  void* p = nullptr;
  if (posix_memalign(&p, kHugePageBytes, size) != 0) throw std::bad_alloc();
  // Advice only: without THP (or with it off) the memory still works with
  // small pages.
  madvise(p, size, MADV_HUGEPAGE);
  return p;
}

void free_huge(void* p) { std::free(p); }

void reuse_large_allocations() {
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
  });
}

SlotArena::SlotArena(size_t chunk_bytes) : chunk_bytes_(round_up(chunk_bytes, 64)) {}

SlotArena::~SlotArena() {
  for (void* region : regions_) free_huge(region);
}

float* SlotArena::allocate_chunk() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (left_ < chunk_bytes_) {
    const size_t size = round_up(std::max(next_region_bytes_, chunk_bytes_), kHugePageBytes);
    void* region = allocate_huge(size);
    regions_.push_back(region);
    cursor_ = static_cast<char*>(region);
    left_ = size;
    next_region_bytes_ = std::min(next_region_bytes_ * 2, kMaxRegionBytes);
  }
  float* chunk = reinterpret_cast<float*>(cursor_);
  cursor_ += chunk_bytes_;
  left_ -= chunk_bytes_;
  used_ += chunk_bytes_;
  return chunk;
}

size_t SlotArena::used_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return used_;
}

}  // namespace hybrec::ps
