// Public embedding ops: argument checks (every message names the function,
// the argument and its value), index validation when the device asks for
// it, then dispatch to the CPU or CUDA backend.
#include "hybrec/kernels/embedding.h"

#include <cmath>

#include "api/dispatch.h"
#include "cpu/embedding.h"
#include "cuda/embedding.h"

namespace hybrec::kernels {
namespace {

void check_ptr(const char* op, const char* name, const void* ptr) {
  HYBREC_CHECK(ptr != nullptr, op, ": ", name, " is null");
}

void check_table(const char* op, int64_t num_rows, int64_t dim) {
  HYBREC_CHECK(num_rows >= 0, op, ": num_rows must be >= 0, got ", num_rows);
  HYBREC_CHECK(dim > 0, op, ": dim must be positive, got ", dim);
}

void check_bags_shape(const char* op, const EmbeddingBags& bags) {
  HYBREC_CHECK(bags.count >= 0, op, ": bag count must be >= 0, got ", bags.count);
  HYBREC_CHECK(bags.num_indices >= 0, op, ": num_indices must be >= 0, got ", bags.num_indices);
  HYBREC_CHECK(bags.pooling == Pooling::kSum || bags.pooling == Pooling::kMean, op,
               ": unknown pooling ", static_cast<int>(bags.pooling));
  if (bags.offsets == nullptr) {
    HYBREC_CHECK(bags.count == bags.num_indices, op,
                 ": without offsets every bag holds one index, so count (", bags.count,
                 ") must equal num_indices (", bags.num_indices, ")");
  }
  if (bags.num_indices > 0) check_ptr(op, "indices", bags.indices);
}

void check_backward_size(const char* op, const EmbeddingBags& bags) {
  HYBREC_CHECK(bags.num_indices <= kMaxBackwardIndices, op, ": ", bags.num_indices,
               " indices exceed the backward's limit of ", kMaxBackwardIndices);
  HYBREC_CHECK(bags.count <= kMaxBackwardIndices, op, ": ", bags.count,
               " bags exceed the backward's limit of ", kMaxBackwardIndices);
}

[[noreturn]] void throw_bad_index(const char* op, const char* what, int64_t value, int64_t num_rows,
                                  int64_t position) {
  HYBREC_THROW(op, ": ", what, " ", value, " out of range [0, ", num_rows, ") at position ",
               position);
}

// offsets[b] is the first entry breaking the CSR rules; `previous` is
// offsets[b - 1] (unused when b == 0).
[[noreturn]] void throw_bad_offset(const char* op, int64_t b, int64_t value, int64_t previous,
                                   int64_t count, int64_t num_indices) {
  if (b == 0 && value != 0) HYBREC_THROW(op, ": offsets[0] = ", value, ", must be 0");
  if (b > 0 && value < previous) {
    HYBREC_THROW(op, ": offsets must be non-decreasing, but offsets[", b, "] = ", value,
                 " < offsets[", b - 1, "] = ", previous);
  }
  HYBREC_THROW(op, ": offsets[", count, "] = ", value, " must equal num_indices = ", num_indices);
}

bool offset_ok(const int64_t* offsets, int64_t b, int64_t count, int64_t num_indices) {
  if (b == 0 && offsets[0] != 0) return false;
  if (b > 0 && offsets[b] < offsets[b - 1]) return false;
  return b != count || offsets[b] == num_indices;
}

// Host-side validation for the CPU backend: the same rules and the same
// first-violation order as the CUDA check kernel.
void validate_on_host(const char* op, const char* what, const int64_t* indices, int64_t num_indices,
                      int64_t num_rows, const int64_t* offsets, int64_t count) {
  if (offsets != nullptr) {
    for (int64_t b = 0; b <= count; ++b) {
      if (!offset_ok(offsets, b, count, num_indices)) {
        throw_bad_offset(op, b, offsets[b], b > 0 ? offsets[b - 1] : 0, count, num_indices);
      }
    }
  }
  for (int64_t p = 0; p < num_indices; ++p) {
    if (indices[p] < 0 || indices[p] >= num_rows) {
      throw_bad_index(op, what, indices[p], num_rows, p);
    }
  }
}

#ifdef HYBREC_WITH_CUDA
int64_t read_device_value(const Device& device, const int64_t* ptr) {
  int64_t value = 0;
  copy_to_host(device, &value, ptr, sizeof(value));
  return value;
}

void validate_on_device(const Device& device, const char* op, const char* what,
                        const int64_t* indices, int64_t num_indices, int64_t num_rows,
                        const int64_t* offsets, int64_t count) {
  const cuda::BagsViolation found =
      cuda::find_bag_violation(indices, num_indices, num_rows, offsets, count, device.stream);
  if (found.offset_position >= 0) {
    const int64_t b = found.offset_position;
    throw_bad_offset(op, b, read_device_value(device, offsets + b),
                     b > 0 ? read_device_value(device, offsets + b - 1) : 0, count, num_indices);
  }
  if (found.index_position >= 0) {
    throw_bad_index(op, what, read_device_value(device, indices + found.index_position), num_rows,
                    found.index_position);
  }
}
#endif

// Checks ids (and offsets, when given) against the rules when the device asks for it.
void validate(const Device& device, const char* op, const char* what, const int64_t* indices,
              int64_t num_indices, int64_t num_rows, const int64_t* offsets, int64_t count) {
  if (!device.check_bounds) return;
  if (!device.is_cuda()) {
    validate_on_host(op, what, indices, num_indices, num_rows, offsets, count);
    return;
  }
#ifdef HYBREC_WITH_CUDA
  validate_on_device(device, op, what, indices, num_indices, num_rows, offsets, count);
#else
  detail::no_cuda(op);
#endif
}

void validate_bags(const Device& device, const char* op, const EmbeddingBags& bags,
                   int64_t num_rows) {
  validate(device, op, "index", bags.indices, bags.num_indices, num_rows, bags.offsets, bags.count);
}

void check_adagrad_params(const char* op, const RowwiseAdagradParams& p) {
  HYBREC_CHECK(std::isfinite(p.learning_rate), op, ": learning_rate must be finite, got ",
               p.learning_rate);
  HYBREC_CHECK(p.eps > 0.0f && std::isfinite(p.eps), op, ": eps must be positive and finite, got ",
               p.eps);
}

void check_adam_params(const char* op, const AdamParams& p) {
  HYBREC_CHECK(std::isfinite(p.learning_rate), op, ": learning_rate must be finite, got ",
               p.learning_rate);
  HYBREC_CHECK(p.beta1 >= 0.0f && p.beta1 < 1.0f, op, ": beta1 must be in [0, 1), got ", p.beta1);
  HYBREC_CHECK(p.beta2 >= 0.0f && p.beta2 < 1.0f, op, ": beta2 must be in [0, 1), got ", p.beta2);
  HYBREC_CHECK(p.eps > 0.0f && std::isfinite(p.eps), op, ": eps must be positive and finite, got ",
               p.eps);
  HYBREC_CHECK(p.weight_decay >= 0.0f && std::isfinite(p.weight_decay), op,
               ": weight_decay must be finite and >= 0, got ", p.weight_decay);
  HYBREC_CHECK(p.step >= 1, op, ": step must be >= 1, got ", p.step);
}

void check_unique_rows(const char* op, int64_t num_unique, const int64_t* unique_ids,
                       const float* unique_grads) {
  HYBREC_CHECK(num_unique >= 0, op, ": num_unique must be >= 0, got ", num_unique);
  if (num_unique == 0) return;
  check_ptr(op, "unique_ids", unique_ids);
  check_ptr(op, "unique_grads", unique_grads);
}

}  // namespace

const char* pooling_name(Pooling pooling) {
  switch (pooling) {
    case Pooling::kSum:
      return "sum";
    case Pooling::kMean:
      return "mean";
  }
  return "unknown";
}

bool embedding_supports(Backend backend, EmbeddingOp op, int64_t dim, int64_t num_indices) {
  (void)backend;  // both backends take the same shapes
  if (dim < 1 || num_indices < 0) return false;
  const bool sorts = op == EmbeddingOp::kBagBackward || op == EmbeddingOp::kBackwardAdagrad;
  return !sorts || num_indices <= kMaxBackwardIndices;
}

void embedding_gather(const Device& device, const float* table, int64_t num_rows, int64_t dim,
                      const int64_t* indices, int64_t n, float* out) {
  constexpr const char* op = "embedding_gather";
  check_table(op, num_rows, dim);
  HYBREC_CHECK(n >= 0, op, ": n must be >= 0, got ", n);
  if (n == 0) return;
  check_ptr(op, "table", table);
  check_ptr(op, "indices", indices);
  check_ptr(op, "out", out);
  validate(device, op, "index", indices, n, num_rows, nullptr, 0);
  detail::dispatch(
      op, device, [&] { cpu::embedding_gather(table, dim, indices, n, out); },
      [&] { cuda::embedding_gather(table, dim, indices, n, out, device.stream); });
}

void embedding_bag_forward(const Device& device, const float* table, int64_t num_rows, int64_t dim,
                           const EmbeddingBags& bags, float* out) {
  constexpr const char* op = "embedding_bag_forward";
  check_table(op, num_rows, dim);
  check_bags_shape(op, bags);
  if (bags.count == 0) return;
  check_ptr(op, "out", out);
  if (bags.num_indices > 0) check_ptr(op, "table", table);
  validate_bags(device, op, bags, num_rows);
  detail::dispatch(
      op, device, [&] { cpu::embedding_bag_forward(table, dim, bags, out); },
      [&] { cuda::embedding_bag_forward(table, dim, bags, out, device.stream); });
}

int64_t embedding_bag_backward(const Device& device, const EmbeddingBags& bags,
                               const float* grad_out, int64_t num_rows, int64_t dim,
                               int64_t* unique_ids, float* unique_grads) {
  constexpr const char* op = "embedding_bag_backward";
  check_table(op, num_rows, dim);
  check_bags_shape(op, bags);
  check_backward_size(op, bags);
  if (bags.num_indices == 0) return 0;
  check_ptr(op, "grad_out", grad_out);
  check_ptr(op, "unique_ids", unique_ids);
  check_ptr(op, "unique_grads", unique_grads);
  validate_bags(device, op, bags, num_rows);
  return detail::dispatch(
      op, device,
      [&] {
        return cpu::embedding_bag_backward(bags, grad_out, num_rows, dim, unique_ids, unique_grads);
      },
      [&] {
        return cuda::embedding_bag_backward(bags, grad_out, num_rows, dim, unique_ids, unique_grads,
                                            device.stream);
      });
}

void rowwise_adagrad_update(const Device& device, float* table, float* state, int64_t num_rows,
                            int64_t dim, const int64_t* unique_ids, const float* unique_grads,
                            int64_t num_unique, const RowwiseAdagradParams& params) {
  constexpr const char* op = "rowwise_adagrad_update";
  check_table(op, num_rows, dim);
  check_unique_rows(op, num_unique, unique_ids, unique_grads);
  check_adagrad_params(op, params);
  if (num_unique == 0) return;
  check_ptr(op, "table", table);
  check_ptr(op, "state", state);
  validate(device, op, "row id", unique_ids, num_unique, num_rows, nullptr, 0);
  detail::dispatch(
      op, device,
      [&] {
        cpu::rowwise_adagrad_update(table, state, dim, unique_ids, unique_grads, num_unique,
                                    params);
      },
      [&] {
        cuda::rowwise_adagrad_update(table, state, dim, unique_ids, unique_grads, num_unique,
                                     params, device.stream);
      });
}

void adam_update(const Device& device, float* table, float* m, float* v, int64_t num_rows,
                 int64_t dim, const int64_t* unique_ids, const float* unique_grads,
                 int64_t num_unique, const AdamParams& params) {
  constexpr const char* op = "adam_update";
  check_table(op, num_rows, dim);
  check_unique_rows(op, num_unique, unique_ids, unique_grads);
  check_adam_params(op, params);
  if (num_unique == 0) return;
  check_ptr(op, "table", table);
  check_ptr(op, "m", m);
  check_ptr(op, "v", v);
  validate(device, op, "row id", unique_ids, num_unique, num_rows, nullptr, 0);
  detail::dispatch(
      op, device,
      [&] { cpu::adam_update(table, m, v, dim, unique_ids, unique_grads, num_unique, params); },
      [&] {
        cuda::adam_update(table, m, v, dim, unique_ids, unique_grads, num_unique, params,
                          device.stream);
      });
}

void embedding_bag_backward_adagrad(const Device& device, const EmbeddingBags& bags,
                                    const float* grad_out, float* table, float* state,
                                    int64_t num_rows, int64_t dim,
                                    const RowwiseAdagradParams& params) {
  constexpr const char* op = "embedding_bag_backward_adagrad";
  check_table(op, num_rows, dim);
  check_bags_shape(op, bags);
  check_backward_size(op, bags);
  check_adagrad_params(op, params);
  if (bags.num_indices == 0) return;
  check_ptr(op, "grad_out", grad_out);
  check_ptr(op, "table", table);
  check_ptr(op, "state", state);
  validate_bags(device, op, bags, num_rows);
  detail::dispatch(
      op, device,
      [&] {
        cpu::embedding_bag_backward_adagrad(bags, grad_out, table, state, num_rows, dim, params);
      },
      [&] {
        cuda::embedding_bag_backward_adagrad(bags, grad_out, table, state, num_rows, dim, params,
                                             device.stream);
      });
}

}  // namespace hybrec::kernels
