// Deterministic column sums for the dense family's parameter gradients
// (linear's dbias, layer norm's dgamma and dbeta): stage one sums fixed
// chunks of rows into partials, stage two adds the chunks in order
// (dense_common.cuh has the chunking and the tile reduction).
#include "cuda/check.h"
#include "cuda/dense_common.cuh"

namespace hybrec::kernels::cuda::dense {
namespace {

__global__ void column_sum_partials_kernel(const float* a, int64_t n, int64_t cols,
                                           int64_t chunk_rows, float* partials) {
  __shared__ float tile[kColRows][kColTile + 1];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * chunk_rows;
  const int64_t end = begin + chunk_rows < n ? begin + chunk_rows : n;
  float sum = 0.0f;
  if (j < cols) {
    for (int64_t r = begin + threadIdx.y; r < end; r += kColRows) sum += a[r * cols + j];
  }
  const float total = tile_column_total(sum, tile);
  if (threadIdx.y == 0 && j < cols) partials[static_cast<int64_t>(blockIdx.y) * cols + j] = total;
}

__global__ void add_column_partials_kernel(const float* partials, int64_t chunks, int64_t cols,
                                           float* out) {
  __shared__ float tile[kColRows][kColTile + 1];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  float sum = 0.0f;
  if (j < cols) {
    for (int64_t c = threadIdx.y; c < chunks; c += kColRows) sum += partials[c * cols + j];
  }
  const float total = tile_column_total(sum, tile);
  if (threadIdx.y == 0 && j < cols) out[j] += total;
}

}  // namespace

void add_partials_to(const float* partials, int64_t chunks, int64_t cols, float* out,
                     cudaStream_t stream) {
  HYBREC_LAUNCH(add_column_partials_kernel, column_grid(cols, 1), kColBlock, 0, stream, partials,
                chunks, cols, out);
}

void add_column_sums(const float* a, int64_t n, int64_t cols, float* out, cudaStream_t stream) {
  const ColumnChunks chunks = column_chunks(n, cols);
  StreamScratch partials(static_cast<std::size_t>(chunks.count * cols), stream);
  HYBREC_LAUNCH(column_sum_partials_kernel, column_grid(cols, chunks.count), kColBlock, 0, stream,
                a, n, cols, chunks.rows, partials.data());
  add_partials_to(partials.data(), chunks.count, cols, out, stream);
}

}  // namespace hybrec::kernels::cuda::dense
