// Public elementwise and row ops: argument checks (every message names the
// function, the argument and its value), index and offset validation when
// the device asks for it, then dispatch to the CPU or CUDA backend.
#include "hybrec/kernels/elementwise.h"

#include <initializer_list>
#include <limits>
#include <utility>
#include <vector>

#include "api/dispatch.h"
#include "cpu/elementwise.h"
#include "cuda/elementwise.h"

namespace hybrec::kernels {
namespace {

constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();
constexpr int64_t kNoFloor = std::numeric_limits<int64_t>::min();

void check_count(const char* op, const char* name, int64_t value) {
  HYBREC_CHECK(value >= 0, op, ": ", name, " must be >= 0, got ", value);
}

void check_dim(const char* op, int64_t dim) {
  HYBREC_CHECK(dim > 0, op, ": dim must be positive, got ", dim);
}

// An array of `count` entries may be null when count == 0.
void check_ptr(const char* op, const char* name, const void* ptr, int64_t count = 1) {
  HYBREC_CHECK(count == 0 || ptr != nullptr, op, ": ", name, " is null");
}

// What an int64 array must satisfy: every value in [lo, hi), and, for
// offsets, non-decreasing.
struct Rule {
  const char* what;  // the array's name in messages
  int64_t lo, hi;
  const char* hi_name;  // the argument that sets hi (nullptr: no upper bound)
  bool non_decreasing;
};

int64_t read_value(const Device& device, const int64_t* ptr) {
  if (!device.is_cuda()) return *ptr;
  int64_t value = 0;
  copy_to_host(device, &value, ptr, sizeof(value));
  return value;
}

[[noreturn]] void throw_violation(const Device& device, const char* op, const Rule& rule,
                                  const int64_t* values, int64_t p) {
  const int64_t v = read_value(device, values + p);
  if (v >= rule.lo && v < rule.hi) {  // the order broke, not the range
    HYBREC_THROW(op, ": ", rule.what, " must be non-decreasing, but ", rule.what, "[", p, "] = ", v,
                 " < ", rule.what, "[", p - 1, "] = ", read_value(device, values + p - 1));
  }
  if (rule.lo == kNoFloor) {
    HYBREC_THROW(op, ": ", rule.what, " ", v, " at position ", p, " must be < ", rule.hi_name,
                 " = ", rule.hi, " (negative values mean a zero row)");
  }
  if (rule.hi == kNoLimit) {
    HYBREC_THROW(op, ": ", rule.what, " ", v, " at position ", p, " must be >= ", rule.lo);
  }
  HYBREC_THROW(op, ": ", rule.what, " ", v, " out of range [", rule.lo, ", ", rule.hi, ") (",
               rule.hi_name, ") at position ", p);
}

// Checks values[0, n) against the rule when the device asks for it; the CPU
// and CUDA backends report the same first violation.
void validate(const Device& device, const char* op, const Rule& rule, const int64_t* values,
              int64_t n) {
  if (!device.check_bounds || n == 0) return;
  int64_t bad = -1;
  if (!device.is_cuda()) {
    for (int64_t p = 0; p < n && bad < 0; ++p) {
      const int64_t v = values[p];
      if (v < rule.lo || v >= rule.hi || (rule.non_decreasing && p > 0 && v < values[p - 1])) {
        bad = p;
      }
    }
  } else {
#ifdef HYBREC_WITH_CUDA
    bad =
        cuda::find_int64_violation(values, n, rule.lo, rule.hi, rule.non_decreasing, device.stream);
#else
    detail::no_cuda(op);
#endif
  }
  if (bad >= 0) throw_violation(device, op, rule, values, bad);
}

void validate_offsets(const Device& device, const char* op, const int64_t* offsets,
                      int64_t segments) {
  validate(device, op, Rule{"offsets", 0, kNoLimit, nullptr, true}, offsets, segments + 1);
}

// Rows covered by validated offsets, offsets[segments] - offsets[0]; read
// from the device on CUDA (a synchronising copy).
int64_t covered_rows(const Device& device, const int64_t* offsets, int64_t segments) {
  return read_value(device, offsets + segments) - read_value(device, offsets);
}

// The pointers of a segment op's row arrays may be null only when no row is
// covered; that is known for free on the CPU, and on CUDA only after the
// offsets were read anyway (check_bounds).
void check_segment_rows(const Device& device, const char* op, const char* name, const void* rows,
                        const int64_t* offsets, int64_t segments) {
  if (rows != nullptr || (device.is_cuda() && !device.check_bounds)) return;
  check_ptr(op, name, rows, covered_rows(device, offsets, segments));
}

void check_flat(const char* op, int64_t count,
                std::initializer_list<std::pair<const char*, const void*>> ptrs) {
  check_count(op, "count", count);
  for (const auto& [name, ptr] : ptrs) check_ptr(op, name, ptr, count);
}

}  // namespace

void copy(const Device& device, const float* x, int64_t count, float* y) {
  constexpr const char* op = "copy";
  check_flat(op, count, {{"x", x}, {"y", y}});
  if (count == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::copy(x, count, y); }, [&] { cuda::copy(x, count, y, device.stream); });
}

void add(const Device& device, const float* a, const float* b, int64_t count, float* y) {
  constexpr const char* op = "add";
  check_flat(op, count, {{"a", a}, {"b", b}, {"y", y}});
  if (count == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::add(a, b, count, y); },
      [&] { cuda::add(a, b, count, y, device.stream); });
}

void axpy(const Device& device, float alpha, const float* x, int64_t count, float* y) {
  constexpr const char* op = "axpy";
  check_flat(op, count, {{"x", x}, {"y", y}});
  if (count == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::axpy(alpha, x, count, y); },
      [&] { cuda::axpy(alpha, x, count, y, device.stream); });
}

void scale(const Device& device, float alpha, const float* x, int64_t count, float* y) {
  constexpr const char* op = "scale";
  check_flat(op, count, {{"x", x}, {"y", y}});
  if (count == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::scale(alpha, x, count, y); },
      [&] { cuda::scale(alpha, x, count, y, device.stream); });
}

void scale_by(const Device& device, const float* alpha_ptr, const float* x, int64_t count,
              float* y) {
  constexpr const char* op = "scale_by";
  check_flat(op, count, {{"x", x}, {"y", y}});
  check_ptr(op, "alpha_ptr", alpha_ptr);
  if (count == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::scale(*alpha_ptr, x, count, y); },
      [&] { cuda::scale_by(alpha_ptr, x, count, y, device.stream); });
}

void mul(const Device& device, const float* a, const float* b, int64_t count, float* y) {
  constexpr const char* op = "mul";
  check_flat(op, count, {{"a", a}, {"b", b}, {"y", y}});
  if (count == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::mul(a, b, count, y); },
      [&] { cuda::mul(a, b, count, y, device.stream); });
}

void scale_rows(const Device& device, const float* x, const float* row_scale, int64_t rows,
                int64_t dim, float* y) {
  constexpr const char* op = "scale_rows";
  check_count(op, "rows", rows);
  check_dim(op, dim);
  check_ptr(op, "x", x, rows);
  check_ptr(op, "row_scale", row_scale, rows);
  check_ptr(op, "y", y, rows);
  if (rows == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::scale_rows(x, row_scale, rows, dim, y); },
      [&] { cuda::scale_rows(x, row_scale, rows, dim, y, device.stream); });
}

void add_scaled_rows(const Device& device, const float* x, const float* row_scale, int64_t rows,
                     int64_t dim, float* y) {
  constexpr const char* op = "add_scaled_rows";
  check_count(op, "rows", rows);
  check_dim(op, dim);
  check_ptr(op, "x", x, rows);
  check_ptr(op, "y", y, rows);
  if (rows == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::add_scaled_rows(x, row_scale, rows, dim, y); },
      [&] { cuda::add_scaled_rows(x, row_scale, rows, dim, y, device.stream); });
}

void gather_rows(const Device& device, const float* src, int64_t src_rows, int64_t dim,
                 const int64_t* index, int64_t n, float* out, bool accumulate) {
  constexpr const char* op = "gather_rows";
  check_count(op, "src_rows", src_rows);
  check_dim(op, dim);
  check_count(op, "n", n);
  check_ptr(op, "src", src, src_rows);
  check_ptr(op, "index", index, n);
  check_ptr(op, "out", out, n);
  if (n == 0) return;
  validate(device, op, Rule{"index", kNoFloor, src_rows, "src_rows", false}, index, n);
  detail::dispatch(
      op, device, [&] { cpu::gather_rows(src, dim, index, n, out, accumulate); },
      [&] { cuda::gather_rows(src, dim, index, n, out, accumulate, device.stream); });
}

void scatter_add_rows(const Device& device, const RowScatter& scatter, const float* src,
                      int64_t src_rows, int64_t dim, float* dst) {
  constexpr const char* op = "scatter_add_rows";
  check_count(op, "dst_rows", scatter.dst_rows);
  check_count(op, "src_rows", src_rows);
  check_dim(op, dim);
  check_ptr(op, "src", src, src_rows);
  if (scatter.dst_rows == 0) return;
  check_ptr(op, "offsets", scatter.offsets);
  check_ptr(op, "dst", dst);
  validate_offsets(device, op, scatter.offsets, scatter.dst_rows);
  if (!device.is_cuda() || device.check_bounds) {
    const int64_t begin = read_value(device, scatter.offsets);
    const int64_t entries = read_value(device, scatter.offsets + scatter.dst_rows) - begin;
    check_ptr(op, "src_index", scatter.src_index, entries);
    if (entries > 0) {
      validate(device, op, Rule{"src_index", 0, src_rows, "src_rows", false},
               scatter.src_index + begin, entries);
    }
  }
  detail::dispatch(
      op, device, [&] { cpu::scatter_add_rows(scatter, src, dim, dst); },
      [&] { cuda::scatter_add_rows(scatter, src, dim, dst, device.stream); });
}

void make_row_scatter(const int64_t* index, int64_t n, int64_t dst_rows, HostRowScatter* out) {
  constexpr const char* op = "make_row_scatter";
  check_count(op, "n", n);
  check_count(op, "dst_rows", dst_rows);
  check_ptr(op, "index", index, n);
  check_ptr(op, "out", out);
  std::vector<int64_t>& offsets = out->offsets;
  offsets.assign(static_cast<std::size_t>(dst_rows) + 1, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = index[i];
    HYBREC_CHECK(r < dst_rows, op, ": index ", r, " at position ", i,
                 " must be < dst_rows = ", dst_rows, " (negative values are skipped)");
    if (r >= 0) ++offsets[static_cast<std::size_t>(r) + 1];
  }
  for (int64_t r = 0; r < dst_rows; ++r) offsets[r + 1] += offsets[r];
  // A counting sort with offsets[r] as destination r's cursor (i increases
  // within each destination's run); each cursor ends at the next run's
  // start, so shifting them up one place restores the offsets.
  out->src_index.resize(static_cast<std::size_t>(offsets.back()));
  for (int64_t i = 0; i < n; ++i) {
    if (index[i] >= 0) out->src_index[static_cast<std::size_t>(offsets[index[i]]++)] = i;
  }
  for (int64_t r = dst_rows - 1; r >= 1; --r) offsets[r] = offsets[r - 1];
  if (dst_rows > 0) offsets[0] = 0;
}

HostRowScatter make_row_scatter(const int64_t* index, int64_t n, int64_t dst_rows) {
  HostRowScatter out;
  make_row_scatter(index, n, dst_rows, &out);
  return out;
}

void segment_mean_forward(const Device& device, const float* x, int64_t dim, const int64_t* offsets,
                          int64_t segments, float* y) {
  constexpr const char* op = "segment_mean_forward";
  check_dim(op, dim);
  check_count(op, "segments", segments);
  if (segments == 0) return;
  check_ptr(op, "offsets", offsets);
  check_ptr(op, "y", y);
  validate_offsets(device, op, offsets, segments);
  check_segment_rows(device, op, "x", x, offsets, segments);
  detail::dispatch(
      op, device, [&] { cpu::segment_mean_forward(x, dim, offsets, segments, y); },
      [&] { cuda::segment_mean_forward(x, dim, offsets, segments, y, device.stream); });
}

void segment_mean_backward(const Device& device, const float* dy, int64_t dim,
                           const int64_t* offsets, int64_t segments, float* dx) {
  constexpr const char* op = "segment_mean_backward";
  check_dim(op, dim);
  check_count(op, "segments", segments);
  if (segments == 0) return;
  check_ptr(op, "offsets", offsets);
  check_ptr(op, "dy", dy);
  validate_offsets(device, op, offsets, segments);
  check_segment_rows(device, op, "dx", dx, offsets, segments);
  detail::dispatch(
      op, device, [&] { cpu::segment_mean_backward(dy, dim, offsets, segments, dx); },
      [&] { cuda::segment_mean_backward(dy, dim, offsets, segments, dx, device.stream); });
}

void row_inverse_norms(const Device& device, const float* x, int64_t rows, int64_t dim,
                       float* inv) {
  constexpr const char* op = "row_inverse_norms";
  check_count(op, "rows", rows);
  check_dim(op, dim);
  check_ptr(op, "x", x, rows);
  check_ptr(op, "inv", inv, rows);
  if (rows == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::row_inverse_norms(x, rows, dim, inv); },
      [&] { cuda::row_inverse_norms(x, rows, dim, inv, device.stream); });
}

void row_dot(const Device& device, const float* a, const int64_t* a_index, const float* b,
             const int64_t* b_index, int64_t n, int64_t dim, float* out) {
  constexpr const char* op = "row_dot";
  check_count(op, "n", n);
  check_dim(op, dim);
  check_ptr(op, "a", a, n);
  check_ptr(op, "b", b, n);
  check_ptr(op, "out", out, n);
  if (n == 0) return;
  if (a_index != nullptr) {
    validate(device, op, Rule{"a_index", 0, kNoLimit, nullptr, false}, a_index, n);
  }
  if (b_index != nullptr) {
    validate(device, op, Rule{"b_index", 0, kNoLimit, nullptr, false}, b_index, n);
  }
  detail::dispatch(
      op, device, [&] { cpu::row_dot(a, a_index, b, b_index, n, dim, out); },
      [&] { cuda::row_dot(a, a_index, b, b_index, n, dim, out, device.stream); });
}

void dot_accumulate(const Device& device, const float* a, const float* b, int64_t count,
                    float* out) {
  constexpr const char* op = "dot_accumulate";
  check_flat(op, count, {{"a", a}, {"b", b}});
  check_ptr(op, "out", out);
  detail::dispatch(
      op, device, [&] { cpu::dot_accumulate(a, b, count, out); },
      [&] { cuda::dot_accumulate(a, b, count, out, device.stream); });
}

void dense_adam_update(const Device& device, const DenseAdamStep& step, const float* grad,
                       int64_t count, float* params, float* m, float* v) {
  constexpr const char* op = "dense_adam_update";
  check_flat(op, count, {{"grad", grad}, {"params", params}, {"m", m}, {"v", v}});
  if (count == 0) return;
  detail::dispatch(
      op, device, [&] { cpu::dense_adam_update(step, grad, count, params, m, v); },
      [&] { cuda::dense_adam_update(step, grad, count, params, m, v, device.stream); });
}

double sum_of_squares(const Device& device, const float* x, int64_t count) {
  constexpr const char* op = "sum_of_squares";
  check_flat(op, count, {{"x", x}});
  return detail::dispatch(
      op, device, [&] { return cpu::sum_of_squares(x, count); },
      [&] { return cuda::sum_of_squares(x, count, device.stream); });
}

}  // namespace hybrec::kernels
