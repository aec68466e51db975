// CPU backend of the elementwise and row ops (hybrec/kernels/elementwise.h
// has the contract). Called by api/elementwise.cc after argument and bounds
// checks: sizes are valid, required pointers are non-null and the work is
// not empty (dot_accumulate also takes count == 0).
#pragma once

#include <cstdint>

#include "hybrec/kernels/elementwise.h"

namespace hybrec::kernels::cpu {

void copy(const float* x, int64_t count, float* y);
void add(const float* a, const float* b, int64_t count, float* y);
void axpy(float alpha, const float* x, int64_t count, float* y);
void scale(float alpha, const float* x, int64_t count, float* y);
void mul(const float* a, const float* b, int64_t count, float* y);
void scale_rows(const float* x, const float* row_scale, int64_t rows, int64_t dim, float* y);
void add_scaled_rows(const float* x, const float* row_scale, int64_t rows, int64_t dim, float* y);
void gather_rows(const float* src, int64_t dim, const int64_t* index, int64_t n, float* out,
                 bool accumulate);
void scatter_add_rows(const RowScatter& scatter, const float* src, int64_t dim, float* dst);
void segment_mean_forward(const float* x, int64_t dim, const int64_t* offsets, int64_t segments,
                          float* y);
void segment_mean_backward(const float* dy, int64_t dim, const int64_t* offsets, int64_t segments,
                           float* dx);
void row_inverse_norms(const float* x, int64_t rows, int64_t dim, float* inv);
void row_dot(const float* a, const int64_t* a_index, const float* b, const int64_t* b_index,
             int64_t n, int64_t dim, float* out);
void dot_accumulate(const float* a, const float* b, int64_t count, float* out);
void dense_adam_update(const DenseAdamStep& step, const float* grad, int64_t count, float* params,
                       float* m, float* v);
double sum_of_squares(const float* x, int64_t count);

}  // namespace hybrec::kernels::cpu
