#include "trainer/model/scoring.h"

#include "hybrec/kernels/bilinear.h"
#include "hybrec/kernels/dense.h"
#include "trainer/model/device_arrays.h"

namespace hybrec::trainer {
namespace {

namespace k = hybrec::kernels;

k::BilinearParams bilinear_params(const ScoreArgs& a, const ScoringActivations& ws,
                                  const float* w) {
  k::BilinearParams p;
  p.batch = a.batch * a.cands;
  p.dim = a.dim;
  p.u = ws.u_pairs.data();
  p.v = ws.v_pairs.data();
  p.w = w;
  return p;
}

k::FusedScoreParams fused_params(const ScoreArgs& a, const ScoringActivations& ws,
                                 const float* lambda) {
  k::FusedScoreParams f;
  f.batch = a.batch * a.cands;
  f.z = ws.z.data();
  f.g = ws.g.data();
  f.lambda = lambda;
  return f;
}

}  // namespace

void score_and_loss_forward(const k::Device& device, const ModelConfig& config,
                            const ParamLayout& layout, const float* params, const ScoreArgs& a,
                            ScoringActivations* ws) {
  const int64_t n = a.batch * a.cands, d = a.dim;
  float* u_pairs = grow(device, n * d, &ws->u_pairs);
  float* v_pairs = grow(device, n * d, &ws->v_pairs);
  float* z = grow(device, n, &ws->z);
  float* logits = grow(device, n, &ws->logits);
  float* loss = grow(device, 1, &ws->loss);
  k::gather_rows(device, a.users, a.batch, d, a.pair_user, n, u_pairs, false);
  k::gather_rows(device, a.items, a.num_items, d, a.cand, n, v_pairs, false);
  k::bilinear_forward(device, bilinear_params(a, *ws, params + layout.bilinear), z);

  if (a.cos != nullptr) {
    // g = text_scale * cos with text_scale read on the device.
    k::scale_by(device, params + layout.text_scale, a.cos, n, grow(device, n, &ws->g));
    k::fused_score_forward(device, fused_params(a, *ws, params + layout.lambda), logits);
  } else {
    k::copy(device, z, n, logits);
  }

  if (config.loss == Loss::kSampledSoftmax) {
    k::sampled_softmax_loss_forward(device, logits, a.log_q, a.batch, a.cands, loss);
  } else {
    k::bce_with_logits_forward(device, logits, a.labels, nullptr, n, loss);
  }
}

void score_and_loss_backward(const k::Device& device, const ModelConfig& config,
                             const ParamLayout& layout, const float* params, const ScoreArgs& a,
                             ScoringActivations* ws, float* grad, GradReadyTracker* ready,
                             float* dusers, float* ditems) {
  const int64_t n = a.batch * a.cands, d = a.dim;
  float* dlogits = grow(device, n, &ws->dlogits);
  float* dz = grow(device, n, &ws->dz);
  if (config.loss == Loss::kSampledSoftmax) {
    k::sampled_softmax_loss_backward(device, ws->logits.data(), a.log_q, a.batch, a.cands, 1.0f,
                                     dlogits);
  } else {
    k::bce_with_logits_backward(device, ws->logits.data(), a.labels, nullptr, n, 1.0f, dlogits);
  }

  if (a.cos != nullptr) {
    float* dg = grow(device, n, &ws->dg);
    k::fused_score_backward(device, fused_params(a, *ws, params + layout.lambda), dlogits, dz, dg,
                            grad + layout.lambda);
    // g = text_scale * cos, so dtext_scale = sum dg * cos (summed in double,
    // like the kernel's dlambda), added on the device.
    k::dot_accumulate(device, dg, a.cos, n, grad + layout.text_scale);
    ready->finish(layout.text_scale);
  } else {
    k::copy(device, dlogits, n, dz);
  }

  float* du_pairs = grow(device, n * d, &ws->du_pairs);
  float* dv_pairs = grow(device, n * d, &ws->dv_pairs);
  k::bilinear_backward(device, bilinear_params(a, *ws, params + layout.bilinear), dz, du_pairs,
                       dv_pairs, grad + layout.bilinear);
  ready->finish(layout.bilinear);

  // Each user and item receives its pairs' gradients in order of the pair.
  k::fill_zero(device, dusers, static_cast<std::size_t>(a.batch * d) * sizeof(float));
  k::scatter_add_rows(device, a.to_users, du_pairs, n, d, dusers);
  k::scatter_add_rows(device, a.to_items, dv_pairs, n, d, ditems);
}

}  // namespace hybrec::trainer
