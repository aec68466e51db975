// Elementwise and row ops: copies, scaled sums, row gathers and scatters,
// segment means, row norms and dot products. They are the small steps between
// the big kernels of a model (adding position vectors, masking ID rows,
// pooling a history, scoring by cosine), on both backends, so a model written
// once runs on Device::cpu() or Device::cuda(stream).
//
// Conventions shared by every op in this header
// - All arrays are fp32 (indices and offsets int64), dense and row-major with
//   `dim` contiguous floats per row. For CUDA every array pointer is a device
//   pointer; scalars passed by value (alpha) are host values, and the one
//   scalar read from memory is named alpha_ptr (a device pointer on CUDA).
// - Every output is OVERWRITTEN unless its op says ACCUMULATED (+=): axpy,
//   add_scaled_rows, gather_rows with accumulate = true, scatter_add_rows and
//   dot_accumulate accumulate; the rest overwrite.
// - Outputs must not overlap inputs, except where an op says "alias ok": then
//   the output may be exactly the named input (same pointer, not a partial
//   overlap).
// - Counts (count, rows, n, segments, dst_rows, src_rows) may be 0; arrays
//   they size may then be null and nothing is written (dot_accumulate still
//   adds 0). A negative count, dim <= 0 or a null required pointer throws
//   hybrec::Error naming the function, the argument and its value.
// - With device.check_bounds (the default) indices and offsets are validated
//   before anything is written: an error names the value, the allowed range
//   and the position. On CUDA that check synchronises the stream (the value
//   lives on the device); without check_bounds out-of-range indices are
//   undefined behaviour.
//
// CPU results are bit for bit those of the plain sequential loop written in
// each op's comment (the same float operations in the same order), compiled
// with the project's flags: a model moved onto these ops keeps its CPU
// results. One caveat: under GCC's default -ffp-contract=fast the compiler
// may fuse `c += a * b` into an FMA, and decides per loop (it fuses the
// elementwise multiply-adds and, when it vectorises the products of a sum,
// does not fuse that sum). Each op is the loop alone in its function, as the
// model had it, so the choice matches; tests/kernels/elementwise_test.cc
// pins it against copies of the model's loops. Loops over independent
// elements or rows may run on several threads; that changes no result.
//
// CUDA versus CPU, |cuda - cpu| <= atol + rtol * |cpu| for inputs of
// magnitude O(1) (checked by tests/kernels/elementwise_gpu_test.cc):
//   exact (bit for bit)        copy, add, scale, scale_by, mul, scale_rows,
//                              gather_rows, scatter_add_rows (the same adds in
//                              the same order), segment_mean_forward/backward
//                              (a sequential sum over the segment's rows per
//                              column, then the same multiply)
//   atol 1e-6, rtol 1e-6       axpy, add_scaled_rows (a backend may or may not
//                              fuse the multiply-add: one rounding apart)
//   atol 1e-6, rtol 1e-5       row_inverse_norms, row_dot (CUDA sums a row in a
//                              warp tree, CPU sequentially)
//   atol 1e-6, rtol 1e-6       dot_accumulate (both sum in double; the orders
//                              differ, the float results almost never do)
// Every CUDA reduction runs in a fixed order without atomics, so repeated runs
// give bit-identical results.
#pragma once

#include <cstdint>
#include <vector>

#include "hybrec/kernels/device.h"

namespace hybrec::kernels {

// ---------------------------------------------------------------------------
// Flat arrays of `count` floats.

// y[i] = x[i]. y == x is allowed (nothing to do).
void copy(const Device& device, const float* x, int64_t count, float* y);

// y[i] = a[i] + b[i]. Alias ok: y may be a or b.
void add(const Device& device, const float* a, const float* b, int64_t count, float* y);

// y[i] += alpha * x[i]. ACCUMULATED into y.
void axpy(const Device& device, float alpha, const float* x, int64_t count, float* y);

// y[i] = alpha * x[i]. Alias ok: y may be x.
void scale(const Device& device, float alpha, const float* x, int64_t count, float* y);

// y[i] = alpha_ptr[0] * x[i], the scale read from memory (on CUDA a device
// array of one float, e.g. a model parameter, so no host round trip). Alias
// ok: y may be x; alpha_ptr must not point into y.
void scale_by(const Device& device, const float* alpha_ptr, const float* x, int64_t count,
              float* y);

// y[i] = a[i] * b[i]. Alias ok: y may be a or b.
void mul(const Device& device, const float* a, const float* b, int64_t count, float* y);

// ---------------------------------------------------------------------------
// Rows: x, y [rows, dim]; row_scale [rows].

// y[i][k] = row_scale[i] * x[i][k]. Alias ok: y may be x.
void scale_rows(const Device& device, const float* x, const float* row_scale, int64_t rows,
                int64_t dim, float* y);

// y[i][k] += s * x[i][k] with s = row_scale[i] (row_scale nullptr: s = 1).
// ACCUMULATED into y. A row whose s == 0 is skipped, not added as 0 * x:
//   for i: s = row_scale ? row_scale[i] : 1; if (s == 0) continue;
//          for k: y[i][k] += s * x[i][k]
void add_scaled_rows(const Device& device, const float* x, const float* row_scale, int64_t rows,
                     int64_t dim, float* y);

// out[i][:] = src[index[i]][:] (accumulate = false, OVERWRITTEN) or
// out[i][:] += src[index[i]][:] (accumulate = true, ACCUMULATED), for
// i < n; src [src_rows, dim], out [n, dim]. index[i] < 0 stands for a zero
// row: out[i] is set to 0, or left alone when accumulating. With
// check_bounds, index[i] >= src_rows throws. Its backward is a
// scatter_add_rows of dout into dsrc (see make_row_scatter). out must not
// overlap src.
void gather_rows(const Device& device, const float* src, int64_t src_rows, int64_t dim,
                 const int64_t* index, int64_t n, float* out, bool accumulate);

// A scatter in CSR form, grouped by destination row: destination r receives
// the source rows src_index[j] for j in [offsets[r], offsets[r+1]).
// offsets is non-decreasing from offsets[0] >= 0 (normally 0).
struct RowScatter {
  int64_t dst_rows = 0;
  const int64_t* offsets = nullptr;    // [dst_rows + 1]
  const int64_t* src_index = nullptr;  // [offsets[dst_rows]], each in [0, src_rows)
};

// dst[r][:] += src[src_index[j]][:] for j = offsets[r], offsets[r] + 1, ...
// in increasing j, each add straight into dst (ACCUMULATED):
//   for r: for j in [offsets[r], offsets[r+1]): for k: dst[r][k] += src[src_index[j]][k]
// src [src_rows, dim], dst [dst_rows, dim]. Deterministic on both backends:
// CUDA gives each destination row to one warp and walks j in order, no
// atomics. With check_bounds the offsets and src_index are validated
// (src_index may be null when offsets[dst_rows] == offsets[0]). dst must not
// overlap src.
void scatter_add_rows(const Device& device, const RowScatter& scatter, const float* src,
                      int64_t src_rows, int64_t dim, float* dst);

// The CSR of the scatter "for i = 0..n-1: if (index[i] >= 0) dst[index[i]] += src[i]",
// stable in i: offsets [dst_rows + 1] starting at 0 and src_index the i's
// grouped by destination, in increasing i within a group. scatter_add_rows
// with it reproduces that loop bit for bit (each destination receives the
// same adds in the same order). Host arrays, no Device: copy them to the
// device for CUDA. Throws hybrec::Error when an index >= dst_rows (negative
// indices are skipped), or when n or dst_rows is negative.
struct HostRowScatter {
  std::vector<int64_t> offsets;
  std::vector<int64_t> src_index;
};
HostRowScatter make_row_scatter(const int64_t* index, int64_t n, int64_t dst_rows);
// The same into *out, reusing its vectors' capacity: a training step that
// rebuilds its scatters every batch allocates nothing once they have grown.
void make_row_scatter(const int64_t* index, int64_t n, int64_t dst_rows, HostRowScatter* out);

// ---------------------------------------------------------------------------
// Segments: segment s covers rows [offsets[s], offsets[s+1]) of x, with
// offsets [segments + 1] non-decreasing from offsets[0] >= 0; n_s is its row
// count.

// y[s][:] = mean of the segment's rows, y [segments, dim], OVERWRITTEN:
//   y[s][k] = 0; for r in segment: y[s][k] += x[r][k];
//   if (n_s > 1) y[s][k] *= 1.0f / n_s
// so n_s == 1 gives the row itself (0 + x) and n_s == 0 gives 0.
void segment_mean_forward(const Device& device, const float* x, int64_t dim, const int64_t* offsets,
                          int64_t segments, float* y);

// Its backward: for every row r of segment s, dx[r][k] = dy[s][k] * inv with
// inv = n_s > 1 ? 1.0f / n_s : 1.0f. dx is OVERWRITTEN over rows
// [offsets[0], offsets[segments]) and untouched elsewhere.
void segment_mean_backward(const Device& device, const float* dy, int64_t dim,
                           const int64_t* offsets, int64_t segments, float* dx);

// ---------------------------------------------------------------------------
// Row reductions.

// inv[i] = 1 / sqrt(sq) when sq > 0, else 0, where x [rows, dim] and
//   sq = 0.0f; for k: sq += x[i][k] * x[i][k]     (float, in order of k)
// OVERWRITTEN.
void row_inverse_norms(const Device& device, const float* x, int64_t rows, int64_t dim, float* inv);

// out[i] = sum over k of a[ai][k] * b[bi][k] with ai = a_index ? a_index[i] : i
// and bi = b_index ? b_index[i] : i, for i < n:
//   dot = 0.0f; for k: dot += a[ai][k] * b[bi][k]; out[i] = dot
// OVERWRITTEN. The index arrays carry no row counts, so only their sign is
// checked (with check_bounds): an index past the end of its array is
// undefined behaviour.
void row_dot(const Device& device, const float* a, const int64_t* a_index, const float* b,
             const int64_t* b_index, int64_t n, int64_t dim, float* out);

// out[0] += float(sum over i of double(a[i]) * double(b[i])), ACCUMULATED into
// the one float at out (a device pointer on CUDA: no synchronisation). CPU
// sums in double in order of i; CUDA in double, in a fixed order that depends
// only on count (per-block partials, then one block adds them), no atomics.
void dot_accumulate(const Device& device, const float* a, const float* b, int64_t count,
                    float* out);

// ---------------------------------------------------------------------------
// Dense Adam over a flat parameter buffer (the formula and its clipping are
// trainer/model/dense_adam.h's), one call per optimizer step:
//   g = clip_coef * grad[i] (+ weight_decay * p when not decoupled)
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   p -= lr * ((m * inv_bc1) / (sqrt(v * inv_bc2) + eps) (+ weight_decay * p if decoupled))
// params, m, v updated in place from grad (count each, not modified). The
// CPU backend is DenseAdam's former host loop, bit for bit; CUDA rounds each
// element the same way up to FMA contraction (atol 1e-6, rtol 1e-5).
struct DenseAdamStep {
  float learning_rate = 1e-3f;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float weight_decay = 0.0f;
  bool decoupled_weight_decay = true;
  float clip_coef = 1.0f;
  float inv_bias_correction1 = 1.0f, inv_bias_correction2 = 1.0f;  // 1 / (1 - beta^t)
};
void dense_adam_update(const Device& device, const DenseAdamStep& step, const float* grad,
                       int64_t count, float* params, float* m, float* v);

// sum over i of x[i]^2 in double, returned to the host (on CUDA this waits
// for the stream). CPU: in index order (DenseAdam's norm, bit for bit);
// CUDA: per-block partials in double, then one block adds them.
double sum_of_squares(const Device& device, const float* x, int64_t count);

}  // namespace hybrec::kernels
