// Public dense ops: argument checks (every message names the function, the
// argument and its value), then dispatch to the CPU or CUDA backend.
#include "hybrec/kernels/dense.h"

#include "api/dispatch.h"
#include "cpu/dense.h"
#include "cuda/dense.h"

namespace hybrec::kernels {
namespace {

void check_rows(const char* op, const char* name, int64_t value) {
  HYBREC_CHECK(value >= 0, op, ": ", name, " must be >= 0, got ", value);
}

void check_dim(const char* op, const char* name, int64_t value) {
  HYBREC_CHECK(value > 0, op, ": ", name, " must be positive, got ", value);
}

void check_ptr(const char* op, const char* name, const void* ptr) {
  HYBREC_CHECK(ptr != nullptr, op, ": ", name, " is null");
}

// An array of n rows may be null when n == 0 (an empty Buffer has no storage).
void check_rows_ptr(const char* op, const char* name, const void* ptr, int64_t n) {
  if (n > 0) check_ptr(op, name, ptr);
}

void check_blas_dim(const char* op, const char* name, int64_t value) {
  HYBREC_CHECK(value <= kMaxLinearDim, op, ": ", name, " = ", value,
               " exceeds the 32-bit BLAS size limit ", kMaxLinearDim);
}

void check_linear_shape(const char* op, const LinearParams& p) {
  check_rows(op, "n", p.n);
  check_dim(op, "in_features", p.in_features);
  check_dim(op, "out_features", p.out_features);
  check_blas_dim(op, "n", p.n);
  check_blas_dim(op, "in_features", p.in_features);
  check_blas_dim(op, "out_features", p.out_features);
}

void check_layer_norm_shape(const char* op, const LayerNormParams& p) {
  check_rows(op, "n", p.n);
  check_dim(op, "dim", p.dim);
  HYBREC_CHECK(p.eps >= 0.0f && p.eps < std::numeric_limits<float>::infinity(), op,
               ": eps must be finite and >= 0, got ", p.eps);
}

}  // namespace

void linear_forward(const Device& device, const LinearParams& p) {
  constexpr const char* op = "linear_forward";
  check_linear_shape(op, p);
  check_rows_ptr(op, "x", p.x, p.n);
  check_ptr(op, "weight", p.weight);
  check_rows_ptr(op, "y", p.y, p.n);
  if (p.n == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::linear_forward(p); }, [&] { cuda::linear_forward(p, device.stream); });
}

void linear_backward(const Device& device, const LinearParams& p) {
  constexpr const char* op = "linear_backward";
  check_linear_shape(op, p);
  check_rows_ptr(op, "dy", p.dy, p.n);
  check_rows_ptr(op, "x", p.x, p.n);
  check_ptr(op, "dweight", p.dweight);
  if (p.dx != nullptr) check_ptr(op, "weight (needed for dx)", p.weight);
  if (p.n == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::linear_backward(p); },
      [&] { cuda::linear_backward(p, device.stream); });
}

void layer_norm_forward(const Device& device, const LayerNormParams& p) {
  constexpr const char* op = "layer_norm_forward";
  check_layer_norm_shape(op, p);
  check_rows_ptr(op, "x", p.x, p.n);
  check_ptr(op, "gamma", p.gamma);
  check_ptr(op, "beta", p.beta);
  check_rows_ptr(op, "y", p.y, p.n);
  if (p.n == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::layer_norm_forward(p); },
      [&] { cuda::layer_norm_forward(p, device.stream); });
}

void layer_norm_backward(const Device& device, const LayerNormParams& p) {
  constexpr const char* op = "layer_norm_backward";
  check_layer_norm_shape(op, p);
  check_rows_ptr(op, "dy", p.dy, p.n);
  check_rows_ptr(op, "x", p.x, p.n);
  check_ptr(op, "gamma", p.gamma);
  check_rows_ptr(op, "mean", p.mean, p.n);
  check_rows_ptr(op, "rstd", p.rstd, p.n);
  check_rows_ptr(op, "dx", p.dx, p.n);
  check_ptr(op, "dgamma", p.dgamma);
  check_ptr(op, "dbeta", p.dbeta);
  if (p.n == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::layer_norm_backward(p); },
      [&] { cuda::layer_norm_backward(p, device.stream); });
}

void gelu_forward(const Device& device, const float* x, int64_t count, float* y) {
  constexpr const char* op = "gelu_forward";
  check_rows(op, "count", count);
  check_rows_ptr(op, "x", x, count);
  check_rows_ptr(op, "y", y, count);
  if (count == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::gelu_forward(x, count, y); },
      [&] { cuda::gelu_forward(x, count, y, device.stream); });
}

void gelu_backward(const Device& device, const float* x, const float* dy, int64_t count,
                   float* dx) {
  constexpr const char* op = "gelu_backward";
  check_rows(op, "count", count);
  check_rows_ptr(op, "x", x, count);
  check_rows_ptr(op, "dy", dy, count);
  check_rows_ptr(op, "dx", dx, count);
  if (count == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::gelu_backward(x, dy, count, dx); },
      [&] { cuda::gelu_backward(x, dy, count, dx, device.stream); });
}

void softmax_forward(const Device& device, const float* x, int64_t n, int64_t c, float* y) {
  constexpr const char* op = "softmax_forward";
  check_rows(op, "n", n);
  check_dim(op, "c", c);
  check_rows_ptr(op, "x", x, n);
  check_rows_ptr(op, "y", y, n);
  if (n == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::softmax_forward(x, n, c, y); },
      [&] { cuda::softmax_forward(x, n, c, y, device.stream); });
}

void softmax_backward(const Device& device, const float* y, const float* dy, int64_t n, int64_t c,
                      float* dx) {
  constexpr const char* op = "softmax_backward";
  check_rows(op, "n", n);
  check_dim(op, "c", c);
  check_rows_ptr(op, "y", y, n);
  check_rows_ptr(op, "dy", dy, n);
  check_rows_ptr(op, "dx", dx, n);
  if (n == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::softmax_backward(y, dy, n, c, dx); },
      [&] { cuda::softmax_backward(y, dy, n, c, dx, device.stream); });
}

// The losses still run for n == 0: they write loss = 0 (the mean of nothing,
// by convention here), on the device for CUDA.
void bce_with_logits_forward(const Device& device, const float* logits, const float* labels,
                             const float* weights, int64_t n, float* loss) {
  constexpr const char* op = "bce_with_logits_forward";
  check_rows(op, "n", n);
  check_rows_ptr(op, "logits", logits, n);
  check_rows_ptr(op, "labels", labels, n);
  check_ptr(op, "loss", loss);
  detail::dispatch(
      op, device, [&] { cpu::bce_with_logits_forward(logits, labels, weights, n, loss); },
      [&] { cuda::bce_with_logits_forward(logits, labels, weights, n, loss, device.stream); });
}

void bce_with_logits_backward(const Device& device, const float* logits, const float* labels,
                              const float* weights, int64_t n, float dloss, float* dlogits) {
  constexpr const char* op = "bce_with_logits_backward";
  check_rows(op, "n", n);
  check_rows_ptr(op, "logits", logits, n);
  check_rows_ptr(op, "labels", labels, n);
  check_rows_ptr(op, "dlogits", dlogits, n);
  if (n == 0) return;
  detail::dispatch(
      op, device,
      [&] { cpu::bce_with_logits_backward(logits, labels, weights, n, dloss, dlogits); },
      [&] {
        cuda::bce_with_logits_backward(logits, labels, weights, n, dloss, dlogits, device.stream);
      });
}

void sampled_softmax_loss_forward(const Device& device, const float* logits, const float* log_q,
                                  int64_t n, int64_t c, float* loss) {
  constexpr const char* op = "sampled_softmax_loss_forward";
  check_rows(op, "n", n);
  check_dim(op, "c", c);
  check_rows_ptr(op, "logits", logits, n);
  check_ptr(op, "loss", loss);
  detail::dispatch(
      op, device, [&] { cpu::sampled_softmax_loss_forward(logits, log_q, n, c, loss); },
      [&] { cuda::sampled_softmax_loss_forward(logits, log_q, n, c, loss, device.stream); });
}

void sampled_softmax_loss_backward(const Device& device, const float* logits, const float* log_q,
                                   int64_t n, int64_t c, float dloss, float* dlogits) {
  constexpr const char* op = "sampled_softmax_loss_backward";
  check_rows(op, "n", n);
  check_dim(op, "c", c);
  check_rows_ptr(op, "logits", logits, n);
  check_rows_ptr(op, "dlogits", dlogits, n);
  if (n == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::sampled_softmax_loss_backward(logits, log_q, n, c, dloss, dlogits); },
      [&] {
        cuda::sampled_softmax_loss_backward(logits, log_q, n, c, dloss, dlogits, device.stream);
      });
}

}  // namespace hybrec::kernels
