// HybridModel::init_params: the initial dense parameters.
//   linear weights, adapter   xavier uniform U(-b, b), b = sqrt(6 / (fan_in + fan_out))
//   linear biases             0
//   layer norm                gamma 1, beta 0
//   positions                 U(-init_scale, init_scale)
//   bilinear W                identity + U(-init_scale, init_scale): z starts as
//                             (nearly) the dot product u'.v
//   text_scale                5 (a cosine in [-1, 1] then spans a useful logit range)
//   lambda                    ModelConfig::lambda_init
//   new_item                  0 (a new item starts as v_j = A t_j)
// Every value is a function of (seed, flat offset) through a counter-based
// hash, so the result is a pure function of (config, seed).
#include <cmath>
#include <cstring>

#include "hybrec/kernels/error.h"
#include "trainer/model/counter_rng.h"
#include "trainer/model/hybrid_model.h"

namespace hybrec::trainer {
namespace {

constexpr uint64_t kInitStream = 0x1D171A11ull;
constexpr float kTextScaleInit = 5.0f;

void fill_uniform(uint64_t seed, float* params, int64_t offset, int64_t count, float bound) {
  for (int64_t i = 0; i < count; ++i) {
    const float u = counter_uniform(seed, kInitStream, static_cast<uint64_t>(offset + i));
    params[offset + i] = (2.0f * u - 1.0f) * bound;
  }
}

void fill_xavier(uint64_t seed, float* params, int64_t offset, int64_t rows, int64_t cols) {
  const float bound = std::sqrt(6.0f / static_cast<float>(rows + cols));
  fill_uniform(seed, params, offset, rows * cols, bound);
}

void fill_value(float* params, int64_t offset, int64_t count, float value) {
  for (int64_t i = 0; i < count; ++i) params[offset + i] = value;
}

}  // namespace

void HybridModel::init_params(uint64_t seed, float* params) const {
  HYBREC_CHECK(params != nullptr || num_params_ == 0, "HybridModel::init_params: params is null");
  const int64_t d = config_.dim, f = ffn_hidden(config_);
  const float s = config_.init_scale;
  std::memset(params, 0, static_cast<std::size_t>(num_params_) * sizeof(float));
  if (layout_.adapter >= 0) fill_xavier(seed, params, layout_.adapter, d, config_.text_dim);
  if (layout_.positions >= 0)
    fill_uniform(seed, params, layout_.positions, config_.history_len * d, s);
  for (const EncoderLayerOffsets& o : layout_.layers) {
    fill_xavier(seed, params, o.qkv_w, 3 * d, d);
    fill_xavier(seed, params, o.out_w, d, d);
    fill_value(params, o.ln1_g, d, 1.0f);
    fill_xavier(seed, params, o.ffn1_w, f, d);
    fill_xavier(seed, params, o.ffn2_w, d, f);
    fill_value(params, o.ln2_g, d, 1.0f);
  }
  fill_uniform(seed, params, layout_.bilinear, d * d, s);
  for (int64_t i = 0; i < d; ++i) params[layout_.bilinear + i * d + i] += 1.0f;
  if (layout_.text_scale >= 0) params[layout_.text_scale] = kTextScaleInit;
  if (layout_.lambda >= 0) params[layout_.lambda] = config_.lambda_init;
}

}  // namespace hybrec::trainer
