// Dense ops: linear, layer norm, GELU, softmax, and the two training losses
// (BCE-with-logits and sampled softmax), each with its backward, on both
// backends (Device::cpu() and Device::cuda(stream)).
//
// Conventions shared by every op in this header
// - All tensors are fp32, dense and row-major; `n` is the number of rows
//   (examples) and the last dimension is contiguous. For CUDA every array
//   pointer is a device pointer; scalars passed by value (eps, dloss) are host
//   values.
// - Outputs named y, dx and dlogits are OVERWRITTEN. Parameter gradients
//   (dweight, dbias, dgamma, dbeta) are ACCUMULATED (+=): a dense gradient
//   collects over every use of the parameter in the step (micro-batches,
//   shared layers) until the trainer all-reduces it and zeroes it after the
//   optimizer step. Zero them yourself before the first backward.
// - n may be 0: nothing is written except a loss, which is then 0, and the
//   arrays with n rows may be null (an empty Buffer has no storage). n < 0, a
//   non-positive feature dimension or a null required pointer throws
//   hybrec::Error naming the function, the argument and its value.
// - Inputs and outputs must not overlap, except where an op says an output may
//   alias an input (all such in-place cases are tested).
// - The params structs carry the fields of forward and backward; each call
//   reads only the fields its comment lists and ignores the rest.
// - Both backends support every op and every size below; there is no
//   backend-specific limit beyond kMaxLinearDim.
// - Reductions on CUDA (bias, gamma and beta gradients, the mean losses) run
//   in a fixed order that depends only on the shapes, never on float atomics,
//   so repeated runs give bit-identical results on the same GPU.
//
// CUDA versus CPU tolerance, |cuda - cpu| <= atol + rtol * |cpu|, for inputs of
// magnitude O(1) (checked by tests/kernels/dense_gpu_test.cc):
//   linear (fp32 cuBLAS, TF32 disabled)  atol 1e-6 * k, rtol 1e-4, k the
//                                        length of the summed dimension:
//                                        in_features for y, out_features for
//                                        dx, n for dweight and dbias (fp32
//                                        sums in a different order)
//   layer norm                           atol 1e-5, rtol 1e-5 (dgamma/dbeta:
//                                        atol 1e-6 * n, summed over rows)
//   gelu, softmax, bce, sampled softmax  atol 1e-6, rtol 1e-5 (the losses'
//                                        dlogits carry the mean's 1/n: atol
//                                        1e-6 / n)
// The CPU backend evaluates exp, erf and log1p inside its vectorised loops
// with its own polynomial forms (cpu/dense_math.h: exp relative error < 1e-7,
// erf absolute error < 1.5e-7), the CUDA backend with CUDA's expf/erff/log1pf;
// both agree with double-precision references to float rounding.
#pragma once

#include <cstdint>
#include <limits>

#include "hybrec/kernels/device.h"

namespace hybrec::kernels {

// ---------------------------------------------------------------------------
// Linear: y[n, out] = x[n, in] * weight^T + bias, weight [out, in] row-major
// (PyTorch nn.Linear's layout, so checkpoints load without a transpose).
//
// Forward reads x, weight, bias (nullptr = no bias) and overwrites y.
// Backward reads dy, x, weight and
//   dx      [n, in]  = dy * weight              OVERWRITTEN; nullptr skips it
//                                               (first layer: no input grad)
//   dweight [out,in] += dy^T * x                ACCUMULATED; required
//   dbias   [out]    += sum over rows of dy     ACCUMULATED; nullptr = no bias
// CPU runs all of it in BLAS (sgemm onto rows preset to the bias; sgemv
// against a vector of ones for dbias); CUDA uses cuBLAS sgemm in plain fp32
// (CUBLAS_DEFAULT_MATH, set on every call because the per-thread handle is
// shared) plus hand-written bias kernels. No output may alias an input.

// BLAS and cuBLAS take 32-bit sizes: n, in_features and out_features must not
// exceed this.
inline constexpr int64_t kMaxLinearDim = std::numeric_limits<int32_t>::max();

struct LinearParams {
  int64_t n = 0;  // rows of x and y
  int64_t in_features = 0;
  int64_t out_features = 0;
  const float* x = nullptr;       // [n, in]    forward and backward
  const float* weight = nullptr;  // [out, in]  forward and backward
  const float* bias = nullptr;    // [out]      forward, optional
  float* y = nullptr;             // [n, out]   forward output
  const float* dy = nullptr;      // [n, out]   backward input
  float* dx = nullptr;            // [n, in]    backward output, optional
  float* dweight = nullptr;       // [out, in]  backward, accumulated
  float* dbias = nullptr;         // [out]      backward, accumulated, optional
};

void linear_forward(const Device& device, const LinearParams& params);
void linear_backward(const Device& device, const LinearParams& params);

// ---------------------------------------------------------------------------
// Layer norm over the last dimension:
//   mean = sum(x)/dim, var = sum((x - mean)^2)/dim (biased, as PyTorch),
//   rstd = 1/sqrt(var + eps), y = (x - mean) * rstd * gamma + beta.
// Forward overwrites y and saves mean[n] and rstd[n] for backward (either may
// be nullptr at inference). y may alias x (then backward cannot run: it needs
// the original x).
// Backward, with xhat = (x - mean) * rstd and g = dy * gamma:
//   dx      = rstd * (g - mean(g) - xhat * mean(g * xhat))   OVERWRITTEN
//   dgamma += sum over rows of dy * xhat                      ACCUMULATED
//   dbeta  += sum over rows of dy                             ACCUMULATED
// dx may alias dy. The variance is computed in two passes (mean first), not
// as E[x^2] - mean^2, which cancels catastrophically for offset inputs.
struct LayerNormParams {
  int64_t n = 0;                 // rows
  int64_t dim = 0;               // normalised (last) dimension
  float eps = 1e-5f;             // PyTorch's default
  const float* x = nullptr;      // [n, dim]  forward and backward
  const float* gamma = nullptr;  // [dim]     forward and backward
  const float* beta = nullptr;   // [dim]     forward
  float* y = nullptr;            // [n, dim]  forward output
  float* mean = nullptr;         // [n]       written by forward, read by backward
  float* rstd = nullptr;         // [n]       written by forward, read by backward
  const float* dy = nullptr;     // [n, dim]  backward input
  float* dx = nullptr;           // [n, dim]  backward output
  float* dgamma = nullptr;       // [dim]     backward, accumulated
  float* dbeta = nullptr;        // [dim]     backward, accumulated
};

void layer_norm_forward(const Device& device, const LayerNormParams& params);
void layer_norm_backward(const Device& device, const LayerNormParams& params);

// ---------------------------------------------------------------------------
// GELU, the exact erf form (PyTorch's default, approximate='none'):
//   y = 0.5 * x * (1 + erf(x / sqrt(2)))
//   dx = dy * (0.5 * (1 + erf(x / sqrt(2))) + x * exp(-x^2 / 2) / sqrt(2 pi))
// Elementwise over `count` values; y may alias x, dx may alias dy (not x).
void gelu_forward(const Device& device, const float* x, int64_t count, float* y);
void gelu_backward(const Device& device, const float* x, const float* dy, int64_t count, float* dx);

// ---------------------------------------------------------------------------
// Softmax over the last dimension of x [n, c], max-subtracted so any finite
// logits give finite probabilities. Backward takes the forward's output:
//   dx = y * (dy - sum over the row of dy * y)
// y may alias x; dx may alias dy.
void softmax_forward(const Device& device, const float* x, int64_t n, int64_t c, float* y);
void softmax_backward(const Device& device, const float* y, const float* dy, int64_t n, int64_t c,
                      float* dx);

// ---------------------------------------------------------------------------
// Binary cross-entropy on logits, reduction = mean over the n examples:
//   l_i  = max(x_i, 0) - x_i * y_i + log1p(exp(-|x_i|))   (stable for any x)
//   loss = sum_i w_i * l_i / n                             (w_i = 1 without weights)
// labels are floats in [0, 1] (soft labels allowed; not checked); weights
// [n] are optional per-example weights (nullptr = all 1). Note the divisor is
// n, not sum(w), as PyTorch's BCEWithLogitsLoss(weight=w).
// Forward writes the scalar to loss[0] (a device pointer on CUDA, so the
// training step never synchronises). Backward, for an upstream gradient
// dloss (a host scalar, usually 1 or the loss scale):
//   dlogits_i = (sigmoid(x_i) - y_i) * w_i / n * dloss     OVERWRITTEN
// dlogits may alias logits.
void bce_with_logits_forward(const Device& device, const float* logits, const float* labels,
                             const float* weights, int64_t n, float* loss);
void bce_with_logits_backward(const Device& device, const float* logits, const float* labels,
                              const float* weights, int64_t n, float dloss, float* dlogits);

// ---------------------------------------------------------------------------
// Sampled softmax loss. Row i of logits [n, c] holds the positive (target)
// item in column 0 and c - 1 sampled negatives after it. log_q [n, c] is the
// log of each column's sampling probability, subtracted from the logits
// (logQ correction, so popular negatives are not over-penalised); nullptr
// means no correction. With z = logits - log_q:
//   loss = sum_i (logsumexp(z_i) - z_i0) / n
//   dlogits_ij = (softmax(z_i)_j - [j == 0]) / n * dloss   OVERWRITTEN
// Nothing is saved between forward and backward: the backward recomputes
// the row's logsumexp, which costs one extra read of a row it reads anyway.
// c == 1 is allowed (loss 0). dlogits may alias logits.
void sampled_softmax_loss_forward(const Device& device, const float* logits, const float* log_q,
                                  int64_t n, int64_t c, float* loss);
void sampled_softmax_loss_backward(const Device& device, const float* logits, const float* log_q,
                                   int64_t n, int64_t c, float dloss, float* dlogits);

}  // namespace hybrec::kernels
