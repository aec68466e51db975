// CUDA linear layer (contract in hybrec/kernels/dense.h): cuBLAS sgemm in
// plain fp32 for the products, a float4 kernel for the bias, and the
// fixed-order column sum (column_sum.cu) for dbias.
#include <cublas_v2.h>

#include "cuda/check.h"
#include "cuda/dense.h"
#include "cuda/dense_common.cuh"

namespace hybrec::kernels::cuda {
namespace dense {
namespace {

template <int V>
__global__ void add_bias_kernel(float* y, const float* bias, int64_t n, int64_t out) {
  // With V == 4, out % 4 == 0, so a vector never straddles two rows.
  const int64_t vecs = n * out / V;
  for (int64_t i = global_thread(); i < vecs; i += grid_stride()) {
    const int64_t col = (i * V) % out;
    float v[V], b[V];
    load<V>(y + i * V, v);
    load<V>(bias + col, b);
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] += b[k];
    store<V>(y + i * V, v);
  }
}

// The per-thread handle is shared with other families: pin the modes this
// file relies on (host scalars, no TF32) on every call.
cublasHandle_t fp32_blas(cudaStream_t stream) {
  cublasHandle_t handle = cublas_handle(stream);
  HYBREC_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
  HYBREC_CUBLAS_CHECK(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_HOST));
  return handle;
}

}  // namespace
}  // namespace dense

using namespace dense;  // NOLINT: this family's own helpers

void linear_forward(const LinearParams& p, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const int n = static_cast<int>(p.n), in = static_cast<int>(p.in_features),
            out = static_cast<int>(p.out_features);
  const float one = 1.0f, zero = 0.0f;
  // Row-major y[n, out] is column-major y^T [out, n] = W [out, in] x^T, where
  // row-major W reads as column-major W^T (hence OP_T) and x as x^T.
  HYBREC_CUBLAS_CHECK(cublasSgemm(fp32_blas(stream), CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one,
                                  p.weight, in, p.x, in, &zero, p.y, out));
  if (p.bias == nullptr) return;
  const bool vec = p.out_features % 4 == 0 && aligned16(p.y) && aligned16(p.bias);
  const int64_t items = p.n * p.out_features / (vec ? 4 : 1);
  if (vec) {
    HYBREC_LAUNCH(add_bias_kernel<4>, grid_for(items, kBlock), kBlock, 0, stream, p.y, p.bias, p.n,
                  p.out_features);
  } else {
    HYBREC_LAUNCH(add_bias_kernel<1>, grid_for(items, kBlock), kBlock, 0, stream, p.y, p.bias, p.n,
                  p.out_features);
  }
}

void linear_backward(const LinearParams& p, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const int n = static_cast<int>(p.n), in = static_cast<int>(p.in_features),
            out = static_cast<int>(p.out_features);
  const float one = 1.0f, zero = 0.0f;
  cublasHandle_t blas = fp32_blas(stream);
  if (p.dx != nullptr) {
    // Column-major dx^T [in, n] = W^T [in, out] dy^T [out, n].
    HYBREC_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, p.weight, in,
                                    p.dy, out, &zero, p.dx, in));
  }
  // Column-major dW^T [in, out] += x^T [in, n] dy [n, out]; beta = 1 accumulates.
  HYBREC_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, p.x, in, p.dy,
                                  out, &one, p.dweight, in));
  if (p.dbias != nullptr) add_column_sums(p.dy, p.n, p.out_features, p.dbias, stream);
}

}  // namespace hybrec::kernels::cuda
