// Memory for the row store's large, randomly accessed arrays, backed by
// transparent huge pages where the kernel allows (madvise mode included).
//
// Why: a warm table spans gigabytes and every pull touches rows at random,
// so with 4 KiB pages nearly every row access is also a TLB miss and a page
// walk, which measured as the row store's main cost. 2 MiB pages cover a
// table of tens of GiB with the TLB's own entries.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

namespace hybrec::ps {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// `bytes` rounded up to whole huge pages, 2 MiB aligned, advised for huge
// pages; throws std::bad_alloc. Free with free_huge.
void* allocate_huge(size_t bytes);
void free_huge(void* p);

// Keeps glibc from mapping and unmapping every request-sized buffer: by
// default a buffer of more than a few MiB is a fresh mmap, so each 16 MiB
// pull reply costs thousands of page faults and zeroed pages. Raises the
// mmap threshold to glibc's maximum (32 MiB) and the trim threshold so freed
// buffers are reused. Process-wide; the server and client call it once.
void reuse_large_allocations();

// std::vector allocator: allocations of at least one huge page go through
// allocate_huge, smaller ones through operator new.
template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}
  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    return static_cast<T*>(bytes >= kHugePageBytes ? allocate_huge(bytes) : ::operator new(bytes));
  }
  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) >= kHugePageBytes) {
      free_huge(p);
    } else {
      ::operator delete(p);
    }
  }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const HugePageAllocator<U>&) const {
    return false;
  }
};

// Hands out fixed-size chunks carved from huge-page regions that grow
// geometrically (2 MiB, 4, 8, ... up to 64 MiB, and never smaller than a
// chunk), so a small table costs one huge page and a large one wastes at
// most the tail of its last region. Chunks live as long as the arena.
// Thread-safe; allocation is rare (once per chunk), so one mutex suffices.
class SlotArena {
 public:
  explicit SlotArena(size_t chunk_bytes);
  ~SlotArena();
  SlotArena(const SlotArena&) = delete;
  SlotArena& operator=(const SlotArena&) = delete;

  float* allocate_chunk();
  // Bytes of the chunks handed out: the memory in use. The untouched tail of
  // the last region is address space only (never faulted in) and is left out.
  size_t used_bytes() const;

 private:
  const size_t chunk_bytes_;
  mutable std::mutex mutex_;
  std::vector<void*> regions_;
  char* cursor_ = nullptr;
  size_t left_ = 0;
  size_t next_region_bytes_ = kHugePageBytes;
  size_t used_ = 0;
};

}  // namespace hybrec::ps
