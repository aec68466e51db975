// Argument checks and backend dispatch for the attention family.
#include "hybrec/kernels/attention.h"

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <vector>

#include "api/dispatch.h"
#include "cpu/attention.h"
#include "cuda/attention.h"
#include "hybrec/kernels/error.h"

namespace hybrec::kernels {
namespace {

constexpr std::int64_t kCudaMaxSeqLen = 512;

bool cuda_head_dim_supported(std::int64_t head_dim) {
  return head_dim == 32 || head_dim == 64 || head_dim == 128;
}

bool aligned16(const void* ptr) { return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0; }

void check_sizes(const char* op, const AttentionParams& p) {
  HYBREC_CHECK(p.batch > 0, op, ": batch ", p.batch, " must be positive");
  HYBREC_CHECK(p.seq_len > 0, op, ": seq_len ", p.seq_len, " must be positive");
  HYBREC_CHECK(p.heads > 0, op, ": heads ", p.heads, " must be positive");
  HYBREC_CHECK(p.head_dim > 0, op, ": head_dim ", p.head_dim, " must be positive");
  // Element offsets are int64 everywhere; make sure the largest one fits.
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  HYBREC_CHECK(p.batch <= max / p.seq_len && p.batch * p.seq_len <= max / p.heads &&
                   p.batch * p.seq_len * p.heads <= max / p.head_dim,
               op, ": batch ", p.batch, " x seq_len ", p.seq_len, " x heads ", p.heads,
               " x head_dim ", p.head_dim, " overflows int64");
  HYBREC_CHECK(std::isfinite(p.scale), op, ": scale ", p.scale, " is not finite");
  // Both backends index a row of one head with 32-bit ints (BLAS leading
  // dimensions, CUDA tile offsets).
  HYBREC_CHECK(p.heads <= std::numeric_limits<int>::max() / p.head_dim, op, ": heads ", p.heads,
               " x head_dim ", p.head_dim, " exceeds the 32-bit row stride");
  HYBREC_CHECK(p.seq_len <= std::numeric_limits<int>::max(), op, ": seq_len ", p.seq_len,
               " exceeds 32 bits");
}

void check_cuda_support(const char* op, const AttentionParams& p) {
  HYBREC_CHECK(cuda_head_dim_supported(p.head_dim), op, ": head_dim ", p.head_dim,
               " is not supported by the CUDA backend (supported: 32, 64, 128)");
  HYBREC_CHECK(p.seq_len <= kCudaMaxSeqLen, op, ": seq_len ", p.seq_len,
               " is not supported by the CUDA backend (at most ", kCudaMaxSeqLen, ")");
}

void check_pointer(const char* op, const char* name, const void* ptr, bool cuda) {
  HYBREC_CHECK(ptr != nullptr, op, ": ", name, " is null");
  if (cuda) {
    HYBREC_CHECK(aligned16(ptr), op, ": ", name, " (", ptr,
                 ") is not 16-byte aligned, which the CUDA backend requires");
  }
}

struct Named {
  const char* name;
  const void* ptr;
};

// Outputs must not coincide with an input or with each other. Partial overlaps
// cannot be detected from base pointers alone; the header forbids them too.
void check_no_alias(const char* op, std::initializer_list<Named> outputs,
                    std::initializer_list<Named> inputs) {
  for (auto out = outputs.begin(); out != outputs.end(); ++out) {
    for (const Named& in : inputs) {
      HYBREC_CHECK(out->ptr != in.ptr, op, ": ", out->name, " aliases ", in.name);
    }
    for (auto other = out + 1; other != outputs.end(); ++other) {
      HYBREC_CHECK(out->ptr != other->ptr, op, ": ", out->name, " aliases ", other->name);
    }
  }
}

void check_decode_sizes(const char* op, const AttentionDecodeParams& p) {
  HYBREC_CHECK(p.batch >= 0, op, ": batch ", p.batch, " must be >= 0");
  HYBREC_CHECK(p.heads > 0, op, ": heads ", p.heads, " must be positive");
  HYBREC_CHECK(p.head_dim > 0, op, ": head_dim ", p.head_dim, " must be positive");
  HYBREC_CHECK(p.max_len > 0, op, ": max_len ", p.max_len, " must be positive");
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  HYBREC_CHECK(p.batch <= max / p.max_len && p.batch * p.max_len <= max / p.heads &&
                   p.batch * p.max_len * p.heads <= max / p.head_dim,
               op, ": batch ", p.batch, " x max_len ", p.max_len, " x heads ", p.heads,
               " x head_dim ", p.head_dim, " overflows int64");
  HYBREC_CHECK(std::isfinite(p.scale), op, ": scale ", p.scale, " is not finite");
}

// lengths[b] in [1, max_len], checked on the host (copied there for CUDA).
void check_decode_lengths(const Device& device, const char* op, const AttentionDecodeParams& p) {
  std::vector<std::int64_t> lengths(static_cast<std::size_t>(p.batch));
  copy_to_host(device, lengths.data(), p.lengths, lengths.size() * sizeof(std::int64_t));
  for (std::int64_t b = 0; b < p.batch; ++b) {
    const std::int64_t n = lengths[static_cast<std::size_t>(b)];
    HYBREC_CHECK(n >= 1 && n <= p.max_len, op, ": lengths[", b, "] = ", n,
                 " out of range [1, max_len = ", p.max_len, "]");
  }
}

}  // namespace

float attention_scale(const AttentionParams& params) {
  if (params.scale > 0.0f) return params.scale;
  return params.head_dim > 0 ? 1.0f / std::sqrt(static_cast<float>(params.head_dim)) : 1.0f;
}

bool attention_supports(const Device& device, const AttentionParams& params) {
  if (params.batch <= 0 || params.seq_len <= 0 || params.heads <= 0 || params.head_dim <= 0) {
    return false;
  }
  if (!device.is_cuda()) return true;
  return cuda_compiled() && cuda_head_dim_supported(params.head_dim) &&
         params.seq_len <= kCudaMaxSeqLen;
}

void attention_forward(const Device& device, const AttentionParams& p) {
  const char* op = "attention_forward";
  check_sizes(op, p);
  const bool cuda = device.is_cuda();
  if (cuda) check_cuda_support(op, p);
  check_pointer(op, "q", p.q, cuda);
  check_pointer(op, "k", p.k, cuda);
  check_pointer(op, "v", p.v, cuda);
  check_pointer(op, "out", p.out, cuda);
  check_pointer(op, "lse", p.lse, cuda);
  check_no_alias(op, {{"out", p.out}, {"lse", p.lse}}, {{"q", p.q}, {"k", p.k}, {"v", p.v}});
  const float scale = attention_scale(p);
  detail::dispatch(
      op, device, [&] { cpu::attention_forward(p, scale); },
      [&] { cuda::attention_forward(p, scale, device.stream); });
}

void attention_backward(const Device& device, const AttentionParams& p) {
  const char* op = "attention_backward";
  check_sizes(op, p);
  const bool cuda = device.is_cuda();
  if (cuda) check_cuda_support(op, p);
  check_pointer(op, "q", p.q, cuda);
  check_pointer(op, "k", p.k, cuda);
  check_pointer(op, "v", p.v, cuda);
  check_pointer(op, "out", p.out, cuda);
  check_pointer(op, "lse", p.lse, cuda);
  check_pointer(op, "dout", p.dout, cuda);
  check_pointer(op, "dq", p.dq, cuda);
  check_pointer(op, "dk", p.dk, cuda);
  check_pointer(op, "dv", p.dv, cuda);
  check_no_alias(
      op, {{"dq", p.dq}, {"dk", p.dk}, {"dv", p.dv}},
      {{"q", p.q}, {"k", p.k}, {"v", p.v}, {"out", p.out}, {"lse", p.lse}, {"dout", p.dout}});
  const float scale = attention_scale(p);
  detail::dispatch(
      op, device, [&] { cpu::attention_backward(p, scale); },
      [&] { cuda::attention_backward(p, scale, device.stream); });
}

bool attention_decode_supports(const Device& device, const AttentionDecodeParams& params) {
  if (params.batch < 0 || params.heads <= 0 || params.head_dim <= 0 || params.max_len <= 0) {
    return false;
  }
  if (!device.is_cuda()) return true;
  return cuda_compiled() && params.head_dim <= kMaxDecodeHeadDimCuda;
}

void attention_decode_forward(const Device& device, const AttentionDecodeParams& p) {
  const char* op = "attention_decode_forward";
  check_decode_sizes(op, p);
  if (device.is_cuda()) {
    HYBREC_CHECK(p.head_dim <= kMaxDecodeHeadDimCuda, op, ": head_dim ", p.head_dim,
                 " is not supported by the CUDA backend (at most ", kMaxDecodeHeadDimCuda, ")");
  }
  if (p.batch == 0) return;
  if (device.is_cuda() && !cuda_compiled()) detail::no_cuda(op);
  // Decode reads scalars, so no alignment is asked of any backend.
  check_pointer(op, "q", p.q, false);
  check_pointer(op, "k_cache", p.k_cache, false);
  check_pointer(op, "v_cache", p.v_cache, false);
  check_pointer(op, "lengths", p.lengths, false);
  check_pointer(op, "out", p.out, false);
  check_no_alias(
      op, {{"out", p.out}},
      {{"q", p.q}, {"k_cache", p.k_cache}, {"v_cache", p.v_cache}, {"lengths", p.lengths}});
  if (device.check_bounds) check_decode_lengths(device, op, p);
  const float scale = p.scale > 0.0f ? p.scale : 1.0f / std::sqrt(static_cast<float>(p.head_dim));
  detail::dispatch(
      op, device, [&] { cpu::attention_decode_forward(p, scale); },
      [&] { cuda::attention_decode_forward(p, scale, device.stream); });
}

}  // namespace hybrec::kernels
