// Public bilinear ops: argument checks (every message names the function, the
// argument and its value), then dispatch to the CPU or CUDA backend.
#include "hybrec/kernels/bilinear.h"

#include <limits>

#include "api/dispatch.h"
#include "cpu/bilinear.h"
#include "cuda/bilinear.h"

namespace hybrec::kernels {
namespace {

// BLAS and cuBLAS take 32-bit sizes.
constexpr int64_t kMaxBlasDim = std::numeric_limits<int32_t>::max();

void check_ptr(const char* op, const char* name, const void* ptr) {
  HYBREC_CHECK(ptr != nullptr, op, ": ", name, " is null");
}

void check_bilinear_shape(const char* op, const BilinearParams& p) {
  HYBREC_CHECK(p.batch >= 0, op, ": batch must be >= 0, got ", p.batch);
  HYBREC_CHECK(p.dim > 0, op, ": dim must be positive, got ", p.dim);
  HYBREC_CHECK(p.batch <= kMaxBlasDim, op, ": batch = ", p.batch,
               " exceeds the 32-bit BLAS size limit ", kMaxBlasDim);
  HYBREC_CHECK(p.dim <= kMaxBlasDim, op, ": dim = ", p.dim, " exceeds the 32-bit BLAS size limit ",
               kMaxBlasDim);
  if (p.batch == 0) return;
  check_ptr(op, "u", p.u);
  check_ptr(op, "v", p.v);
  check_ptr(op, "w", p.w);
}

void check_fused_shape(const char* op, const FusedScoreParams& p) {
  HYBREC_CHECK(p.batch >= 0, op, ": batch must be >= 0, got ", p.batch);
  if (p.batch == 0) return;
  check_ptr(op, "z", p.z);
  check_ptr(op, "g", p.g);
  check_ptr(op, "lambda", p.lambda);
}

// Host-side CSR checks. On CUDA the offsets are device memory and the
// backend runs the same checks after copying them to the host.
template <typename Index>
void check_exclusions_cpu(const char* op, const AllItemsTopKParams<Index>& p, bool check_bounds) {
  const int64_t* offsets = p.exclude_offsets;
  HYBREC_CHECK(offsets[0] == 0, op, ": exclude_offsets[0] must be 0, got ", offsets[0]);
  for (int64_t u = 0; u < p.num_users; ++u) {
    HYBREC_CHECK(offsets[u + 1] >= offsets[u], op, ": exclude_offsets decreases at user ", u, " (",
                 offsets[u], " then ", offsets[u + 1], ")");
  }
  if (offsets[p.num_users] > 0) check_ptr(op, "exclude_items", p.exclude_items);
  if (!check_bounds) return;
  for (int64_t u = 0; u < p.num_users; ++u) {
    for (int64_t i = offsets[u]; i < offsets[u + 1]; ++i) {
      const int64_t item = static_cast<int64_t>(p.exclude_items[i]);
      HYBREC_CHECK(item >= 0 && item < p.num_items, op, ": excluded item ", item,
                   " out of range [0, ", p.num_items, ") at position ", i, " (user ", u, ")");
    }
  }
}

template <typename Index>
void all_items_topk_impl(const Device& device, const AllItemsTopKParams<Index>& p) {
  constexpr const char* op = "all_items_topk";
  HYBREC_CHECK(p.num_users >= 0, op, ": num_users must be >= 0, got ", p.num_users);
  HYBREC_CHECK(p.num_items >= 0, op, ": num_items must be >= 0, got ", p.num_items);
  HYBREC_CHECK(p.dim > 0, op, ": dim must be positive, got ", p.dim);
  HYBREC_CHECK(p.dim <= kMaxBlasDim, op, ": dim = ", p.dim, " exceeds the 32-bit BLAS size limit ",
               kMaxBlasDim);
  HYBREC_CHECK(p.num_items <= kMaxBlasDim, op, ": num_items = ", p.num_items,
               " exceeds the supported maximum ", kMaxBlasDim);
  HYBREC_CHECK(p.k > 0, op, ": k must be positive, got ", p.k);
  HYBREC_CHECK(p.k <= p.num_items, op, ": k = ", p.k, " exceeds the item count ", p.num_items);
  const int64_t max_k = all_items_topk_max_k(device.backend);
  HYBREC_CHECK(p.k <= max_k, op, ": k = ", p.k, " exceeds the ", backend_name(device.backend),
               " backend's maximum ", max_k);
  if (p.num_users == 0) return;
  check_ptr(op, "users", p.users);
  check_ptr(op, "items", p.items);
  check_ptr(op, "w", p.w);
  check_ptr(op, "top_items", p.top_items);
  check_ptr(op, "top_scores", p.top_scores);
  if (p.exclude_offsets != nullptr && !device.is_cuda()) {
    check_exclusions_cpu(op, p, device.check_bounds);
  }
  detail::dispatch(
      op, device, [&] { cpu::all_items_topk(p); },
      [&] { cuda::all_items_topk(p, device.check_bounds, device.stream); });
}

}  // namespace

void bilinear_forward(const Device& device, const BilinearParams& p, float* z) {
  constexpr const char* op = "bilinear_forward";
  check_bilinear_shape(op, p);
  if (p.batch == 0) return;
  check_ptr(op, "z", z);
  detail::dispatch(
      op, device, [&] { cpu::bilinear_forward(p, z); },
      [&] { cuda::bilinear_forward(p, z, device.stream); });
}

void bilinear_backward(const Device& device, const BilinearParams& p, const float* dz, float* du,
                       float* dv, float* dw) {
  constexpr const char* op = "bilinear_backward";
  check_bilinear_shape(op, p);
  if (p.batch == 0) return;  // du, dv are empty and dw += 0
  check_ptr(op, "dz", dz);
  check_ptr(op, "du", du);
  check_ptr(op, "dv", dv);
  check_ptr(op, "dw", dw);
  detail::dispatch(
      op, device, [&] { cpu::bilinear_backward(p, dz, du, dv, dw); },
      [&] { cuda::bilinear_backward(p, dz, du, dv, dw, device.stream); });
}

void fused_score_forward(const Device& device, const FusedScoreParams& p, float* out) {
  constexpr const char* op = "fused_score_forward";
  check_fused_shape(op, p);
  if (p.batch == 0) return;
  check_ptr(op, "out", out);
  detail::dispatch(
      op, device, [&] { cpu::fused_score_forward(p, out); },
      [&] { cuda::fused_score_forward(p, out, device.stream); });
}

void fused_score_backward(const Device& device, const FusedScoreParams& p, const float* dout,
                          float* dz, float* dg, float* dlambda) {
  constexpr const char* op = "fused_score_backward";
  check_fused_shape(op, p);
  if (p.batch == 0) return;  // dz, dg are empty and dlambda += 0
  check_ptr(op, "dout", dout);
  check_ptr(op, "dz", dz);
  check_ptr(op, "dg", dg);
  check_ptr(op, "dlambda", dlambda);
  detail::dispatch(
      op, device, [&] { cpu::fused_score_backward(p, dout, dz, dg, dlambda); },
      [&] { cuda::fused_score_backward(p, dout, dz, dg, dlambda, device.stream); });
}

void all_items_topk(const Device& device, const AllItemsTopKParams<int32_t>& p) {
  all_items_topk_impl(device, p);
}

void all_items_topk(const Device& device, const AllItemsTopKParams<int64_t>& p) {
  all_items_topk_impl(device, p);
}

int64_t all_items_topk_max_k(Backend backend) {
  if (backend == Backend::kCuda) return cuda::kAllItemsTopKMaxK;
  return kMaxBlasDim;
}

}  // namespace hybrec::kernels
