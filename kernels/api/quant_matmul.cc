// Public quantised matrix products: argument checks (messages name the
// function, the argument and its value), then dispatch by device.
#include "hybrec/kernels/quant_matmul.h"

#include <string>

#include "api/dispatch.h"
#include "cpu/quant_matmul.h"
#include "cpu/quant_q8.h"
#include "cuda/quant_matmul.h"
#include "hybrec/kernels/quant.h"

namespace hybrec::kernels {
namespace {

bool known_type(QuantType type) {
  switch (type) {
    case QuantType::kF32:
    case QuantType::kF16:
    case QuantType::kQ4_1:
    case QuantType::kQ8_0:
      return true;
  }
  return false;
}

int64_t block_elems(QuantType type) {
  return type == QuantType::kQ8_0 || type == QuantType::kQ4_1 ? 32 : 1;
}

}  // namespace

const char* quant_type_name(QuantType type) {
  switch (type) {
    case QuantType::kF32:
      return "F32";
    case QuantType::kF16:
      return "F16";
    case QuantType::kQ4_1:
      return "Q4_1";
    case QuantType::kQ8_0:
      return "Q8_0";
  }
  return "unknown type id";
}

int64_t quant_row_bytes(QuantType type, int64_t in) {
  HYBREC_CHECK(known_type(type), "quant_row_bytes: unsupported weight type id ",
               static_cast<uint32_t>(type));
  HYBREC_CHECK(in >= 0, "quant_row_bytes: in must be >= 0, got ", in);
  HYBREC_CHECK(in % block_elems(type) == 0, "quant_row_bytes: in = ", in,
               " is not a multiple of the ", quant_type_name(type), " block size ",
               block_elems(type));
  switch (type) {
    case QuantType::kF32:
      return in * 4;
    case QuantType::kF16:
      return in * 2;
    case QuantType::kQ4_1:
      return in / kQ4_1BlockElems * kQ4_1BlockBytes;
    case QuantType::kQ8_0:
      return in / kQ8_0BlockElems * kQ8_0BlockBytes;
  }
  return 0;
}

bool quant_matmul_supports(const Device& device, const QuantMatmulParams& params) {
  if (!known_type(params.w_type)) return false;
  if (device.is_cuda() && (!cuda_compiled() || params.n > 65535 || params.out > 0x7fffffff)) {
    return false;
  }
  return params.in % block_elems(params.w_type) == 0;
}

namespace {

// The checks quant_matmul and quant_matmul_range share; false when there is
// nothing to compute.
bool check_params(const char* op, const QuantMatmulParams& p) {
  HYBREC_CHECK(known_type(p.w_type), op, ": unsupported weight type id ",
               static_cast<uint32_t>(p.w_type));
  HYBREC_CHECK(p.n >= 0, op, ": n must be >= 0, got ", p.n);
  HYBREC_CHECK(p.in >= 0, op, ": in must be >= 0, got ", p.in);
  HYBREC_CHECK(p.out >= 0, op, ": out must be >= 0, got ", p.out);
  HYBREC_CHECK(p.in % block_elems(p.w_type) == 0, op, ": in = ", p.in, " is not a multiple of the ",
               quant_type_name(p.w_type), " block size ", block_elems(p.w_type));
  if (p.n == 0 || p.out == 0) return false;
  HYBREC_CHECK(p.y != nullptr, op, ": y is null");
  HYBREC_CHECK(p.in == 0 || p.w != nullptr, op, ": w is null");
  return true;
}

}  // namespace

void quant_matmul(const Device& device, const QuantMatmulParams& p) {
  constexpr const char* op = "quant_matmul";
  if (!check_params(op, p)) return;
  HYBREC_CHECK(p.in == 0 || p.x != nullptr, op, ": x is null");
  detail::dispatch(
      op, device, [&] { cpu::quant_matmul(p); }, [&] { cuda::quant_matmul(p, device.stream); });
}

void quantize_activations(const float* x, int64_t n, int64_t in, Q8Block* out) {
  constexpr const char* op = "quantize_activations";
  HYBREC_CHECK(n >= 0, op, ": n must be >= 0, got ", n);
  HYBREC_CHECK(in >= 0 && in % 32 == 0, op, ": in = ", in,
               " must be a non-negative multiple of the block size 32");
  if (n == 0 || in == 0) return;
  HYBREC_CHECK(x != nullptr && out != nullptr, op, ": null pointer with n = ", n, ", in = ", in);
  cpu::quantize_q8(x, n, in, out);
}

void quant_matmul_range(const QuantMatmulParams& p, const Q8Block* xq, int64_t begin, int64_t end) {
  constexpr const char* op = "quant_matmul_range";
  HYBREC_CHECK(0 <= begin && begin <= end && end <= p.out, op, ": [", begin, ", ", end,
               ") is not a range of the out = ", p.out, " output features");
  if (!check_params(op, p) || begin == end) return;
  if (p.w_type == QuantType::kQ8_0 || p.w_type == QuantType::kQ4_1) {
    HYBREC_CHECK(p.in == 0 || xq != nullptr, op, ": xq is null (", quant_type_name(p.w_type),
                 " weights read quantised activations)");
  } else {
    HYBREC_CHECK(p.in == 0 || p.x != nullptr, op, ": x is null");
  }
  cpu::quant_matmul_range(p, xq, begin, end);
}

}  // namespace hybrec::kernels
