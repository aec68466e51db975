// CUDA attention: launch configuration and dispatch over head_dim and the
// causal flag. The kernels live in attention_forward.cuh and
// attention_backward.cuh; the api layer has already checked head_dim
// (32/64/128), seq_len (<= 512), pointers and alignment.
#include <climits>
#include <cstddef>
#include <cstdint>

#include "cuda/attention.h"
#include "cuda/attention_backward.cuh"
#include "cuda/attention_forward.cuh"
#include "cuda/check.h"
#include "hybrec/kernels/static_switch.h"

#define HYBREC_HEAD_DIM_SWITCH(head_dim, CONST_NAME, ...) \
  [&] {                                                   \
    if ((head_dim) == 32) {                               \
      constexpr int CONST_NAME = 32;                      \
      return __VA_ARGS__();                               \
    } else if ((head_dim) == 64) {                        \
      constexpr int CONST_NAME = 64;                      \
      return __VA_ARGS__();                               \
    } else {                                              \
      constexpr int CONST_NAME = 128;                     \
      return __VA_ARGS__();                               \
    }                                                     \
  }()

namespace hybrec::kernels::cuda {
namespace {

using namespace attention_detail;

// Blocks for `tiles` tiles of every (batch, head): one grid dimension so
// batch * heads is not capped at 65535.
unsigned grid_blocks(const char* op, const AttentionParams& p, int tile_rows) {
  const std::int64_t tiles = (p.seq_len + tile_rows - 1) / tile_rows;
  const std::int64_t blocks = p.batch * p.heads * tiles;
  HYBREC_CHECK(blocks <= INT_MAX, op, ": batch ", p.batch, " x heads ", p.heads, " x ", tiles,
               " tiles = ", blocks, " blocks exceeds the CUDA grid limit");
  return static_cast<unsigned>(blocks);
}

// Kernels above 48 KB of dynamic shared memory must opt in; cheap enough to
// repeat on every launch, and correct for whichever device is current.
// Stream-ordered temporary that is also released if a launch throws.
class StreamScratch {
 public:
  StreamScratch(std::size_t bytes, cudaStream_t stream) : stream_(stream) {
    HYBREC_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes, stream));
  }
  ~StreamScratch() {
    if (ptr_ != nullptr) cudaFreeAsync(ptr_, stream_);
  }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;
  float* data() { return static_cast<float*>(ptr_); }
  void release() {
    HYBREC_CUDA_CHECK(cudaFreeAsync(ptr_, stream_));
    ptr_ = nullptr;
  }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_;
};

template <typename Kernel>
void allow_smem(Kernel kernel, int bytes) {
  HYBREC_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
}

}  // namespace

void attention_forward(const AttentionParams& p, float scale, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  ForwardArgs args{p.q,
                   p.k,
                   p.v,
                   p.key_padding_mask,
                   p.out,
                   p.lse,
                   static_cast<int>(p.seq_len),
                   static_cast<int>(p.heads),
                   scale * kLog2e};
  HYBREC_HEAD_DIM_SWITCH(p.head_dim, kD, [&] {
    HYBREC_BOOL_SWITCH(p.causal, kCausal, [&] {
      const unsigned blocks = grid_blocks("attention_forward", p, ForwardTiles<kD>::kRows);
      const int smem = ForwardTiles<kD>::kSmemFloats * static_cast<int>(sizeof(float));
      auto kernel = attention_forward_kernel<kD, kCausal>;
      allow_smem(kernel, smem);
      HYBREC_LAUNCH(kernel, blocks, kThreads, smem, stream, args);
    });
  });
}

void attention_backward(const AttentionParams& p, float scale, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const std::int64_t rows = p.batch * p.seq_len * p.heads;
  StreamScratch delta_buffer(static_cast<std::size_t>(rows) * sizeof(float), stream);
  float* delta = delta_buffer.data();
  BackwardArgs args{p.q,
                    p.k,
                    p.v,
                    p.dout,
                    p.lse,
                    delta,
                    p.key_padding_mask,
                    p.dq,
                    p.dk,
                    p.dv,
                    static_cast<int>(p.seq_len),
                    static_cast<int>(p.heads),
                    scale,
                    scale * kLog2e};
  HYBREC_HEAD_DIM_SWITCH(p.head_dim, kD, [&] {
    HYBREC_LAUNCH(attention_delta_kernel<kD>, grid_for(rows, 256 / 32), 256, 0, stream, p.out,
                  p.dout, delta, rows, args.seq_len, args.heads);
    HYBREC_BOOL_SWITCH(p.causal, kCausal, [&] {
      {
        const unsigned blocks = grid_blocks("attention_backward", p, DqTiles<kD>::kRows);
        const int smem = DqTiles<kD>::kSmemFloats * static_cast<int>(sizeof(float));
        auto kernel = attention_dq_kernel<kD, kCausal>;
        allow_smem(kernel, smem);
        HYBREC_LAUNCH(kernel, blocks, kThreads, smem, stream, args);
      }
      {
        const unsigned blocks = grid_blocks("attention_backward", p, DkdvTiles<kD>::kRows);
        const int smem = DkdvTiles<kD>::kSmemFloats * static_cast<int>(sizeof(float));
        auto kernel = attention_dkdv_kernel<kD, kCausal>;
        allow_smem(kernel, smem);
        HYBREC_LAUNCH(kernel, blocks, kThreads, smem, stream, args);
      }
    });
  });
  delta_buffer.release();
}

}  // namespace hybrec::kernels::cuda
