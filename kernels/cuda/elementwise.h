// CUDA backend of the elementwise and row ops (hybrec/kernels/elementwise.h
// has the contract). Plain C++ so api/elementwise.cc can include it without
// CUDA headers; `stream` is a cudaStream_t. Called after argument checks:
// sizes are valid, required pointers are non-null and the work is not empty
// (dot_accumulate also takes count == 0).
#pragma once

#include <cstdint>

#include "hybrec/kernels/elementwise.h"

namespace hybrec::kernels::cuda {

// The first position p < n with values[p] outside [lo, hi), or, when
// non_decreasing, with p > 0 and values[p] < values[p - 1]; -1 when there is
// none. Synchronises the stream.
int64_t find_int64_violation(const int64_t* values, int64_t n, int64_t lo, int64_t hi,
                             bool non_decreasing, void* stream);

void copy(const float* x, int64_t count, float* y, void* stream);
void add(const float* a, const float* b, int64_t count, float* y, void* stream);
void axpy(float alpha, const float* x, int64_t count, float* y, void* stream);
void scale(float alpha, const float* x, int64_t count, float* y, void* stream);
void scale_by(const float* alpha_ptr, const float* x, int64_t count, float* y, void* stream);
void mul(const float* a, const float* b, int64_t count, float* y, void* stream);
void scale_rows(const float* x, const float* row_scale, int64_t rows, int64_t dim, float* y,
                void* stream);
void add_scaled_rows(const float* x, const float* row_scale, int64_t rows, int64_t dim, float* y,
                     void* stream);
void gather_rows(const float* src, int64_t dim, const int64_t* index, int64_t n, float* out,
                 bool accumulate, void* stream);
void scatter_add_rows(const RowScatter& scatter, const float* src, int64_t dim, float* dst,
                      void* stream);
void segment_mean_forward(const float* x, int64_t dim, const int64_t* offsets, int64_t segments,
                          float* y, void* stream);
void segment_mean_backward(const float* dy, int64_t dim, const int64_t* offsets, int64_t segments,
                           float* dx, void* stream);
void row_inverse_norms(const float* x, int64_t rows, int64_t dim, float* inv, void* stream);
void row_dot(const float* a, const int64_t* a_index, const float* b, const int64_t* b_index,
             int64_t n, int64_t dim, float* out, void* stream);
void dot_accumulate(const float* a, const float* b, int64_t count, float* out, void* stream);
void dense_adam_update(const DenseAdamStep& step, const float* grad, int64_t count, float* params,
                       float* m, float* v, void* stream);
double sum_of_squares(const float* x, int64_t count, void* stream);

}  // namespace hybrec::kernels::cuda
