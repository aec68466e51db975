// The 64-bit sort key of a top-k candidate, shared by the CPU and CUDA
// backends so both rank exactly alike: the high 32 bits are the score's bits
// mapped to an unsigned order (larger key = larger float), the low 32 bits
// are 0xFFFFFFFF - item, so among equal scores the lower item id has the
// larger key. "Larger key" is then exactly "ranks first": descending score,
// ties to the lower id. Item ids must be below 2^32 (the API caps them at
// 2^31 - 1). Keys of scores > -inf are all > 0, so 0 is a free sentinel.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define HYBREC_TOPK_HD __host__ __device__ __forceinline__
#else
#define HYBREC_TOPK_HD inline
#endif

namespace hybrec::kernels {

HYBREC_TOPK_HD uint64_t topk_key(float score, int64_t item) {
  // -0 and +0 are equal scores and must tie on the item id, but their bits
  // differ (and which one a GEMM produces depends on its summation order).
  if (score == 0.0f) score = 0.0f;
  uint32_t bits;
  std::memcpy(&bits, &score, sizeof(bits));
  // Positive floats: set the sign bit so they sort above every negative;
  // negative floats: flip all bits so a larger magnitude sorts lower.
  const uint32_t ordered = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return (static_cast<uint64_t>(ordered) << 32) |
         static_cast<uint64_t>(0xFFFFFFFFu - static_cast<uint32_t>(item));
}

HYBREC_TOPK_HD float topk_key_score(uint64_t key) {
  const uint32_t ordered = static_cast<uint32_t>(key >> 32);
  const uint32_t bits = (ordered & 0x80000000u) ? (ordered & 0x7FFFFFFFu) : ~ordered;
  float score;
  std::memcpy(&score, &bits, sizeof(score));
  return score;
}

HYBREC_TOPK_HD int64_t topk_key_item(uint64_t key) {
  return static_cast<int64_t>(0xFFFFFFFFu - static_cast<uint32_t>(key));
}

}  // namespace hybrec::kernels

#undef HYBREC_TOPK_HD
