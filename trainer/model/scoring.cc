#include "trainer/model/scoring.h"

#include <cstring>

#include "hybrec/kernels/bilinear.h"
#include "hybrec/kernels/dense.h"

namespace hybrec::trainer {
namespace {

namespace k = hybrec::kernels;

k::BilinearParams bilinear_params(const ScoreArgs& a, const ScoringWorkspace& ws, const float* w) {
  k::BilinearParams p;
  p.batch = a.batch * a.cands;
  p.dim = a.dim;
  p.u = ws.u_pairs.data();
  p.v = ws.v_pairs.data();
  p.w = w;
  return p;
}

}  // namespace

float score_and_loss_forward(const ModelConfig& config, const ParamLayout& layout,
                             const float* params, const ScoreArgs& a, const float* log_q,
                             ScoringWorkspace* ws) {
  const k::Device cpu = k::Device::cpu();
  const int64_t n = a.batch * a.cands, d = a.dim;
  const auto nd = static_cast<std::size_t>(n * d);
  ws->u_pairs.resize(nd);
  ws->v_pairs.resize(nd);
  ws->z.resize(static_cast<std::size_t>(n));
  ws->logits.resize(static_cast<std::size_t>(n));
  const std::size_t row_bytes = static_cast<std::size_t>(d) * sizeof(float);
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(ws->u_pairs.data() + i * d, a.users + (i / a.cands) * d, row_bytes);
    std::memcpy(ws->v_pairs.data() + i * d, a.items + static_cast<int64_t>(a.cand[i]) * d,
                row_bytes);
  }
  k::bilinear_forward(cpu, bilinear_params(a, *ws, params + layout.bilinear), ws->z.data());

  if (a.cos != nullptr) {
    ws->g.resize(static_cast<std::size_t>(n));
    const float scale = params[layout.text_scale];
    for (int64_t i = 0; i < n; ++i) ws->g[static_cast<std::size_t>(i)] = scale * a.cos[i];
    k::FusedScoreParams f;
    f.batch = n;
    f.z = ws->z.data();
    f.g = ws->g.data();
    f.lambda = params + layout.lambda;
    k::fused_score_forward(cpu, f, ws->logits.data());
  } else {
    std::memcpy(ws->logits.data(), ws->z.data(), static_cast<std::size_t>(n) * sizeof(float));
  }

  float loss = 0.0f;
  if (config.loss == Loss::kSampledSoftmax) {
    k::sampled_softmax_loss_forward(cpu, ws->logits.data(), log_q, a.batch, a.cands, &loss);
  } else {
    ws->labels.assign(static_cast<std::size_t>(n), 0.0f);
    for (int64_t b = 0; b < a.batch; ++b) ws->labels[static_cast<std::size_t>(b * a.cands)] = 1.0f;
    k::bce_with_logits_forward(cpu, ws->logits.data(), ws->labels.data(), nullptr, n, &loss);
  }
  return loss;
}

void score_and_loss_backward(const ModelConfig& config, const ParamLayout& layout,
                             const float* params, const ScoreArgs& a, const float* log_q,
                             ScoringWorkspace* ws, float* grad, GradReadyTracker* ready,
                             float* dusers, float* ditems) {
  const k::Device cpu = k::Device::cpu();
  const int64_t n = a.batch * a.cands, d = a.dim;
  ws->dlogits.resize(static_cast<std::size_t>(n));
  ws->dz.resize(static_cast<std::size_t>(n));
  if (config.loss == Loss::kSampledSoftmax) {
    k::sampled_softmax_loss_backward(cpu, ws->logits.data(), log_q, a.batch, a.cands, 1.0f,
                                     ws->dlogits.data());
  } else {
    k::bce_with_logits_backward(cpu, ws->logits.data(), ws->labels.data(), nullptr, n, 1.0f,
                                ws->dlogits.data());
  }

  if (a.cos != nullptr) {
    ws->dg.resize(static_cast<std::size_t>(n));
    k::FusedScoreParams f;
    f.batch = n;
    f.z = ws->z.data();
    f.g = ws->g.data();
    f.lambda = params + layout.lambda;
    k::fused_score_backward(cpu, f, ws->dlogits.data(), ws->dz.data(), ws->dg.data(),
                            grad + layout.lambda);
    // g = text_scale * cos, so dtext_scale = sum dg * cos (summed in double,
    // like the kernel's dlambda).
    double dscale = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      dscale += static_cast<double>(ws->dg[static_cast<std::size_t>(i)]) * a.cos[i];
    }
    grad[layout.text_scale] += static_cast<float>(dscale);
    ready->finish(layout.text_scale);
  } else {
    std::memcpy(ws->dz.data(), ws->dlogits.data(), static_cast<std::size_t>(n) * sizeof(float));
  }

  const auto nd = static_cast<std::size_t>(n * d);
  ws->du_pairs.resize(nd);
  ws->dv_pairs.resize(nd);
  k::bilinear_backward(cpu, bilinear_params(a, *ws, params + layout.bilinear), ws->dz.data(),
                       ws->du_pairs.data(), ws->dv_pairs.data(), grad + layout.bilinear);
  ready->finish(layout.bilinear);

  std::memset(dusers, 0, static_cast<std::size_t>(a.batch * d) * sizeof(float));
  for (int64_t i = 0; i < n; ++i) {
    const float* du = ws->du_pairs.data() + i * d;
    const float* dv = ws->dv_pairs.data() + i * d;
    float* dst_u = dusers + (i / a.cands) * d;
    float* dst_v = ditems + static_cast<int64_t>(a.cand[i]) * d;
    for (int64_t j = 0; j < d; ++j) {
      dst_u[j] += du[j];
      dst_v[j] += dv[j];
    }
  }
}

}  // namespace hybrec::trainer
