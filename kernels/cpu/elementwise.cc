// CPU backend of the elementwise and row ops. Each op is the plain loop its
// header comment spells out, with no `omp simd` reductions and no reordering,
// so results are bit for bit those of a model's hand-written loops compiled
// with the same flags. Loops over independent elements or rows split across
// OpenMP threads once there is enough work to pay for the fork; sums inside
// one element or row stay sequential, so the thread count changes nothing.
#include "cpu/elementwise.h"

#include <cmath>
#include <cstring>

namespace hybrec::kernels::cpu {
namespace {

// Below this many floats a parallel region costs more than the loop.
constexpr int64_t kParallelMinWork = int64_t{1} << 16;

}  // namespace

void copy(const float* x, int64_t count, float* y) {
  if (x != y) std::memcpy(y, x, static_cast<std::size_t>(count) * sizeof(float));
}

void add(const float* a, const float* b, int64_t count, float* y) {
#pragma omp parallel for schedule(static) if (count > kParallelMinWork)
  for (int64_t i = 0; i < count; ++i) y[i] = a[i] + b[i];
}

void axpy(float alpha, const float* x, int64_t count, float* y) {
#pragma omp parallel for schedule(static) if (count > kParallelMinWork)
  for (int64_t i = 0; i < count; ++i) y[i] += alpha * x[i];
}

void scale(float alpha, const float* x, int64_t count, float* y) {
#pragma omp parallel for schedule(static) if (count > kParallelMinWork)
  for (int64_t i = 0; i < count; ++i) y[i] = alpha * x[i];
}

void mul(const float* a, const float* b, int64_t count, float* y) {
#pragma omp parallel for schedule(static) if (count > kParallelMinWork)
  for (int64_t i = 0; i < count; ++i) y[i] = a[i] * b[i];
}

void scale_rows(const float* x, const float* row_scale, int64_t rows, int64_t dim, float* y) {
#pragma omp parallel for schedule(static) if (rows * dim > kParallelMinWork)
  for (int64_t i = 0; i < rows; ++i) {
    const float s = row_scale[i];
    const float* xi = x + i * dim;
    float* yi = y + i * dim;
    for (int64_t k = 0; k < dim; ++k) yi[k] = s * xi[k];
  }
}

void add_scaled_rows(const float* x, const float* row_scale, int64_t rows, int64_t dim, float* y) {
#pragma omp parallel for schedule(static) if (rows * dim > kParallelMinWork)
  for (int64_t i = 0; i < rows; ++i) {
    const float s = row_scale != nullptr ? row_scale[i] : 1.0f;
    if (s == 0.0f) continue;
    const float* xi = x + i * dim;
    float* yi = y + i * dim;
    for (int64_t k = 0; k < dim; ++k) yi[k] += s * xi[k];
  }
}

void gather_rows(const float* src, int64_t dim, const int64_t* index, int64_t n, float* out,
                 bool accumulate) {
#pragma omp parallel for schedule(static) if (n * dim > kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = index[i];
    float* o = out + i * dim;
    if (r < 0) {
      if (!accumulate) std::memset(o, 0, static_cast<std::size_t>(dim) * sizeof(float));
      continue;
    }
    const float* s = src + r * dim;
    if (accumulate) {
      for (int64_t k = 0; k < dim; ++k) o[k] += s[k];
    } else {
      std::memcpy(o, s, static_cast<std::size_t>(dim) * sizeof(float));
    }
  }
}

// Destination rows are independent (each is written by one iteration), so
// they may run on different threads; within a row j runs in order.
void scatter_add_rows(const RowScatter& scatter, const float* src, int64_t dim, float* dst) {
  const int64_t* offsets = scatter.offsets;
  const int64_t* src_index = scatter.src_index;
  const int64_t work = (offsets[scatter.dst_rows] - offsets[0]) * dim;
#pragma omp parallel for schedule(static) if (work > kParallelMinWork)
  for (int64_t r = 0; r < scatter.dst_rows; ++r) {
    float* d = dst + r * dim;
    for (int64_t j = offsets[r]; j < offsets[r + 1]; ++j) {
      const float* s = src + src_index[j] * dim;
      for (int64_t k = 0; k < dim; ++k) d[k] += s[k];
    }
  }
}

void segment_mean_forward(const float* x, int64_t dim, const int64_t* offsets, int64_t segments,
                          float* y) {
  const int64_t work = (offsets[segments] - offsets[0]) * dim;
#pragma omp parallel for schedule(static) if (work > kParallelMinWork)
  for (int64_t s = 0; s < segments; ++s) {
    float* out = y + s * dim;
    const int64_t begin = offsets[s], end = offsets[s + 1], n = end - begin;
    std::memset(out, 0, static_cast<std::size_t>(dim) * sizeof(float));
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t k = 0; k < dim; ++k) out[k] += x[r * dim + k];
    }
    if (n > 1) {
      const float inv = 1.0f / static_cast<float>(n);
      for (int64_t k = 0; k < dim; ++k) out[k] *= inv;
    }
  }
}

void segment_mean_backward(const float* dy, int64_t dim, const int64_t* offsets, int64_t segments,
                           float* dx) {
  const int64_t work = (offsets[segments] - offsets[0]) * dim;
#pragma omp parallel for schedule(static) if (work > kParallelMinWork)
  for (int64_t s = 0; s < segments; ++s) {
    const float* ds = dy + s * dim;
    const int64_t begin = offsets[s], end = offsets[s + 1], n = end - begin;
    const float inv = n > 1 ? 1.0f / static_cast<float>(n) : 1.0f;
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t k = 0; k < dim; ++k) dx[r * dim + k] = ds[k] * inv;
    }
  }
}

void row_inverse_norms(const float* x, int64_t rows, int64_t dim, float* inv) {
#pragma omp parallel for schedule(static) if (rows * dim > kParallelMinWork)
  for (int64_t i = 0; i < rows; ++i) {
    const float* t = x + i * dim;
    float sq = 0.0f;
    for (int64_t k = 0; k < dim; ++k) sq += t[k] * t[k];
    inv[i] = sq > 0.0f ? 1.0f / std::sqrt(sq) : 0.0f;
  }
}

void row_dot(const float* a, const int64_t* a_index, const float* b, const int64_t* b_index,
             int64_t n, int64_t dim, float* out) {
#pragma omp parallel for schedule(static) if (n * dim > kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) {
    const float* ai = a + (a_index != nullptr ? a_index[i] : i) * dim;
    const float* bi = b + (b_index != nullptr ? b_index[i] : i) * dim;
    float dot = 0.0f;
    for (int64_t k = 0; k < dim; ++k) dot += ai[k] * bi[k];
    out[i] = dot;
  }
}

void dot_accumulate(const float* a, const float* b, int64_t count, float* out) {
  double sum = 0.0;
  for (int64_t i = 0; i < count; ++i) sum += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  out[0] += static_cast<float>(sum);
}

void dense_adam_update(const DenseAdamStep& step, const float* grad, int64_t count, float* params,
                       float* m, float* v) {
  const float b1 = step.beta1, b2 = step.beta2, eps = step.eps, wd = step.weight_decay;
  const float c = step.clip_coef, lr = step.learning_rate;
  const float inv_bc1 = step.inv_bias_correction1, inv_bc2 = step.inv_bias_correction2;
  const bool decoupled = step.decoupled_weight_decay;
  for (int64_t i = 0; i < count; ++i) {
    const float p = params[i];
    float g = c * grad[i];
    if (!decoupled) g += wd * p;
    m[i] = b1 * m[i] + (1.0f - b1) * g;
    v[i] = b2 * v[i] + (1.0f - b2) * g * g;
    float update = (m[i] * inv_bc1) / (std::sqrt(v[i] * inv_bc2) + eps);
    if (decoupled) update += wd * p;
    params[i] = p - lr * update;
  }
}

double sum_of_squares(const float* x, int64_t count) {
  double sq = 0.0;
  for (int64_t i = 0; i < count; ++i) sq += static_cast<double>(x[i]) * x[i];
  return sq;
}

}  // namespace hybrec::kernels::cpu
