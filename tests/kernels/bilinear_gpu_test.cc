// CUDA bilinear ops against the CPU backend on the same inputs, with the
// tolerances stated in hybrec/kernels/bilinear.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "bilinear_reference.h"
#include "hybrec/kernels/bilinear.h"
#include "testing.h"

namespace hk = hybrec::kernels;
namespace ht = hybrec::testing;

namespace {

const hk::Device kCpu = hk::Device::cpu();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Header tolerances.
constexpr double kScoreAtol = 1e-4, kScoreRtol = 1e-4;
constexpr double kDwAtol = 1e-3, kDwRtol = 1e-4;
constexpr double kFusedAtol = 1e-6, kFusedRtol = 1e-5;
constexpr double kDlambdaAtol = 1e-5, kDlambdaRtol = 1e-4;

// ---------------------------------------------------------------------------
// Bilinear score
// ---------------------------------------------------------------------------

struct BilinearOutputs {
  std::vector<float> z, du, dv, dw;
};

BilinearOutputs run_bilinear(const hk::Device& device, int64_t batch, int64_t dim,
                             const std::vector<float>& u, const std::vector<float>& v,
                             const std::vector<float>& w, const std::vector<float>& dz,
                             const std::vector<float>& dw_initial) {
  hk::Buffer<float> bu(device, u), bv(device, v), bw(device, w), bdz(device, dz);
  hk::Buffer<float> bz(device, std::vector<float>(batch, 9.0f));
  hk::Buffer<float> bdu(device, std::vector<float>(batch * dim, 9.0f));
  hk::Buffer<float> bdv(device, std::vector<float>(batch * dim, 9.0f));
  hk::Buffer<float> bdw(device, dw_initial);
  const hk::BilinearParams p{batch, dim, bu.data(), bv.data(), bw.data()};
  hk::bilinear_forward(device, p, bz.data());
  hk::bilinear_backward(device, p, bdz.data(), bdu.data(), bdv.data(), bdw.data());
  hk::synchronize(device);
  return {bz.download(), bdu.download(), bdv.download(), bdw.download()};
}

TEST(BilinearGpu, ForwardAndBackwardMatchCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1},     {1, 5},     {7, 33},
                                                           {4096, 64}, {513, 128}, {3, 257}};
  for (const auto& [batch, dim] : shapes) {
    SCOPED_TRACE("batch=" + std::to_string(batch) + " dim=" + std::to_string(dim));
    const auto u = ht::random_floats(batch * dim, 1);
    const auto v = ht::random_floats(batch * dim, 2);
    const auto w = ht::random_floats(dim * dim, 3);
    const auto dz = ht::random_floats(batch, 4);
    const auto dw0 = ht::random_floats(dim * dim, 5);
    const auto cpu = run_bilinear(kCpu, batch, dim, u, v, w, dz, dw0);
    const auto gpu = run_bilinear(hk::Device::cuda(), batch, dim, u, v, w, dz, dw0);
    EXPECT_TRUE(ht::all_close(gpu.z, cpu.z, kScoreAtol, kScoreRtol));
    EXPECT_TRUE(ht::all_close(gpu.du, cpu.du, kScoreAtol, kScoreRtol));
    EXPECT_TRUE(ht::all_close(gpu.dv, cpu.dv, kScoreAtol, kScoreRtol));
    EXPECT_TRUE(ht::all_close(gpu.dw, cpu.dw, kDwAtol, kDwRtol));
  }
}

TEST(BilinearGpu, EmptyBatchLeavesDwUnchanged) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const auto gpu = hk::Device::cuda();
  hk::Buffer<float> w(gpu, std::vector<float>(9, 1.0f)), dw(gpu, std::vector<float>(9, 2.0f));
  const hk::BilinearParams p{0, 3, nullptr, nullptr, w.data()};
  hk::bilinear_forward(gpu, p, nullptr);
  hk::bilinear_backward(gpu, p, nullptr, nullptr, nullptr, dw.data());
  EXPECT_EQ(dw.download(), std::vector<float>(9, 2.0f));
}

// ---------------------------------------------------------------------------
// Fused score
// ---------------------------------------------------------------------------

struct FusedOutputs {
  std::vector<float> out, dz, dg;
  float dlambda;
};

FusedOutputs run_fused(const hk::Device& device, const std::vector<float>& z,
                       const std::vector<float>& g, float lambda, const std::vector<float>& dout,
                       bool in_place) {
  const int64_t batch = static_cast<int64_t>(z.size());
  hk::Buffer<float> bz(device, z), bg(device, g), bl(device, std::vector<float>{lambda});
  hk::Buffer<float> bdout(device, dout), bdl(device, std::vector<float>{0.5f});
  hk::Buffer<float> bout(device, batch), bdz(device, batch), bdg(device, batch);
  hk::fused_score_forward(device, {batch, bz.data(), bg.data(), bl.data()}, bout.data());
  if (in_place) {
    // dz over dout, dg over g.
    hk::fused_score_backward(device, {batch, bz.data(), bg.data(), bl.data()}, bdout.data(),
                             bdout.data(), bg.data(), bdl.data());
    return {bout.download(), bdout.download(), bg.download(), bdl.download()[0]};
  }
  hk::fused_score_backward(device, {batch, bz.data(), bg.data(), bl.data()}, bdout.data(),
                           bdz.data(), bdg.data(), bdl.data());
  return {bout.download(), bdz.download(), bdg.download(), bdl.download()[0]};
}

TEST(FusedScoreGpu, ForwardAndBackwardMatchCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  for (const float lambda : {0.0f, 0.7f, -3.0f}) {
    for (const int64_t batch : {1, 1000, 300000}) {
      for (const bool in_place : {false, true}) {
        SCOPED_TRACE("lambda=" + std::to_string(lambda) + " batch=" + std::to_string(batch) +
                     (in_place ? " in place" : ""));
        const auto z = ht::random_floats(batch, 1, -4.0f, 4.0f);
        const auto g = ht::random_floats(batch, 2);
        const auto dout = ht::random_floats(batch, 3);
        const auto cpu = run_fused(kCpu, z, g, lambda, dout, in_place);
        const auto gpu = run_fused(hk::Device::cuda(), z, g, lambda, dout, in_place);
        EXPECT_TRUE(ht::all_close(gpu.out, cpu.out, kFusedAtol, kFusedRtol));
        EXPECT_TRUE(ht::all_close(gpu.dz, cpu.dz, kFusedAtol, kFusedRtol));
        EXPECT_TRUE(ht::all_close(gpu.dg, cpu.dg, kFusedAtol, kFusedRtol));
        EXPECT_TRUE(ht::all_close(std::vector<float>{gpu.dlambda}, std::vector<float>{cpu.dlambda},
                                  kDlambdaAtol, kDlambdaRtol));
      }
    }
  }
}

// ---------------------------------------------------------------------------
// All-items top-k
// ---------------------------------------------------------------------------

template <typename Index>
struct Problem {
  int64_t users = 0, items = 0, dim = 0;
  std::vector<float> u, v, w;
  std::vector<int64_t> offsets;  // empty: no exclusions
  std::vector<Index> excluded;
};

template <typename Index>
struct TopK {
  std::vector<Index> items;
  std::vector<float> scores;
};

template <typename Index>
TopK<Index> run_topk(const hk::Device& device, const Problem<Index>& pr, int64_t k) {
  hk::Buffer<float> u(device, pr.u), v(device, pr.v), w(device, pr.w);
  hk::Buffer<int64_t> offsets(device, pr.offsets);
  hk::Buffer<Index> excluded(device, pr.excluded);
  hk::Buffer<Index> top_items(device, pr.users * k);
  hk::Buffer<float> top_scores(device, pr.users * k);
  hk::AllItemsTopKParams<Index> p;
  p.num_users = pr.users;
  p.num_items = pr.items;
  p.dim = pr.dim;
  p.k = k;
  p.users = u.data();
  p.items = v.data();
  p.w = w.data();
  p.exclude_offsets = pr.offsets.empty() ? nullptr : offsets.data();
  p.exclude_items = excluded.data();
  p.top_items = top_items.data();
  p.top_scores = top_scores.data();
  hk::all_items_topk(device, p);
  hk::synchronize(device);
  return {top_items.download(), top_scores.download()};
}

// Integer inputs in [-2, 2] make every product and sum exact in float32, so
// both backends see identical scores (with many exact ties).
std::vector<float> inputs(std::size_t n, uint64_t seed, bool integer) {
  if (!integer) return ht::random_floats(n, seed);
  const auto ints = ht::random_ints<int>(n, seed, -2, 3);
  return std::vector<float>(ints.begin(), ints.end());
}

template <typename Index>
Problem<Index> make_problem(int64_t users, int64_t items, int64_t dim, bool integer,
                            int64_t max_excluded, uint64_t seed) {
  Problem<Index> pr{users,
                    items,
                    dim,
                    inputs(users * dim, seed, integer),
                    inputs(items * dim, seed + 1, integer),
                    inputs(dim * dim, seed + 2, integer),
                    {},
                    {}};
  if (max_excluded == 0) return pr;
  pr.offsets.push_back(0);
  const auto counts = ht::random_ints<int64_t>(users, seed + 3, 0, max_excluded + 1);
  for (int64_t u = 0; u < users; ++u) {
    const auto ids = ht::random_ints<Index>(counts[u], seed + 4 + u, 0, Index(items));
    pr.excluded.insert(pr.excluded.end(), ids.begin(), ids.end());
    pr.offsets.push_back(static_cast<int64_t>(pr.excluded.size()));
  }
  return pr;
}

struct Shape {
  int64_t users, items, dim, k, max_excluded;
};

std::string shape_name(const Shape& s) {
  return "users=" + std::to_string(s.users) + " items=" + std::to_string(s.items) +
         " dim=" + std::to_string(s.dim) + " k=" + std::to_string(s.k) +
         " max_excluded=" + std::to_string(s.max_excluded);
}

// Tiles are 4096 items and user blocks 1024 users on the GPU: the shapes
// cover one partial tile, several tiles with a ragged tail, more than one
// user block, k from 1 to 1024 (the candidate merge at every k2) and k equal
// to the item count.
const std::vector<Shape> kShapes = {
    {1, 1, 1, 1, 0},          {3, 10, 5, 1, 4},         {4, 37, 33, 37, 5},   {5, 5001, 16, 10, 30},
    {70, 300, 8, 100, 40},    {6, 9000, 3, 300, 50},    {1500, 600, 4, 7, 6}, {2, 4100, 2, 1, 0},
    {3, 13000, 5, 1024, 200}, {9, 2048, 7, 1024, 2000},
};

template <typename Index>
void expect_exact_match(uint64_t seed) {
  for (const auto& s : kShapes) {
    SCOPED_TRACE(shape_name(s));
    const auto pr = make_problem<Index>(s.users, s.items, s.dim, true, s.max_excluded, seed);
    const auto cpu = run_topk(kCpu, pr, s.k);
    const auto gpu = run_topk(hk::Device::cuda(), pr, s.k);
    EXPECT_EQ(gpu.items, cpu.items);
    EXPECT_EQ(gpu.scores, cpu.scores);
  }
}

TEST(AllItemsTopKGpu, MatchesCpuExactlyOnExactInputsInt64) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  expect_exact_match<int64_t>(10);
}

TEST(AllItemsTopKGpu, MatchesCpuExactlyOnExactInputsInt32) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  expect_exact_match<int32_t>(20);
}

// Few users, many items and large k: every tile merges candidates both
// mid-scan (the candidate area fills) and at its end. Small enough for
// compute-sanitizer's racecheck.
TEST(AllItemsTopKGpu, MergesCandidatesMidScanAndAcrossTiles) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  for (const Shape& s :
       {Shape{2, 9000, 3, 1024, 10}, Shape{2, 9000, 3, 300, 0}, Shape{1, 4097, 2, 2, 0}}) {
    SCOPED_TRACE(shape_name(s));
    const auto pr = make_problem<int64_t>(s.users, s.items, s.dim, true, s.max_excluded, 70);
    const auto cpu = run_topk(kCpu, pr, s.k);
    const auto gpu = run_topk(hk::Device::cuda(), pr, s.k);
    EXPECT_EQ(gpu.items, cpu.items);
    EXPECT_EQ(gpu.scores, cpu.scores);
  }
}

// Random floats: the backends round differently, so near-ties may swap.
// Check the scores rank by rank, that every returned item really has the
// score reported for it (in double), is not excluded and appears once, and
// that the items agree wherever the ranking is unambiguous.
TEST(AllItemsTopKGpu, MatchesCpuWithinToleranceOnRandomInputs) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const std::vector<Shape> shapes = {
      {300, 20000, 64, 100, 50}, {40, 10000, 128, 1024, 100}, {1100, 3000, 33, 10, 20}};
  for (const auto& s : shapes) {
    SCOPED_TRACE(shape_name(s));
    const auto pr = make_problem<int32_t>(s.users, s.items, s.dim, false, s.max_excluded, 30);
    const auto cpu = run_topk(kCpu, pr, s.k);
    const auto gpu = run_topk(hk::Device::cuda(), pr, s.k);
    EXPECT_TRUE(ht::all_close(gpu.scores, cpu.scores, kScoreAtol, kScoreRtol));

    // U W in double, then each returned item's score is one dot product.
    std::vector<double> uw(s.users * s.dim, 0.0);
    for (int64_t u = 0; u < s.users; ++u) {
      for (int64_t a = 0; a < s.dim; ++a) {
        for (int64_t b = 0; b < s.dim; ++b) {
          uw[u * s.dim + b] += double(pr.u[u * s.dim + a]) * double(pr.w[a * s.dim + b]);
        }
      }
    }
    int64_t bad = 0, ambiguous_mismatch = 0;
    for (int64_t u = 0; u < s.users; ++u) {
      const std::set<int64_t> excluded(pr.excluded.begin() + pr.offsets[u],
                                       pr.excluded.begin() + pr.offsets[u + 1]);
      std::set<int64_t> seen;
      for (int64_t i = 0; i < s.k; ++i) {
        const int64_t at = u * s.k + i;
        const int64_t item = gpu.items[at];
        if (item < 0 || item >= s.items || excluded.count(item) || !seen.insert(item).second) {
          ++bad;
          continue;
        }
        double score = 0.0;
        for (int64_t b = 0; b < s.dim; ++b) score += uw[u * s.dim + b] * pr.v[item * s.dim + b];
        if (std::abs(score - gpu.scores[at]) > kScoreAtol + kScoreRtol * std::abs(score)) ++bad;
        const double gap_before = i > 0 ? cpu.scores[at - 1] - cpu.scores[at] : kInf;
        const double gap_after = i + 1 < s.k ? cpu.scores[at] - cpu.scores[at + 1] : kInf;
        const double tol = 2 * (kScoreAtol + kScoreRtol * std::abs(double(cpu.scores[at])));
        if (gap_before > tol && gap_after > tol && item != cpu.items[at]) ++ambiguous_mismatch;
      }
    }
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(ambiguous_mismatch, 0);
  }
}

TEST(AllItemsTopKGpu, PadsUsersWithTooFewCandidates) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  auto pr = make_problem<int32_t>(3, 10, 4, false, 0, 40);
  // User 0: 7 distinct items excluded (with duplicates); user 1: all of them;
  // user 2: none.
  pr.excluded = {0, 1, 2, 2, 3, 4, 5, 6, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9};
  pr.offsets = {0, 9, 20, 20};
  const auto cpu = run_topk(kCpu, pr, 5);
  const auto gpu = run_topk(hk::Device::cuda(), pr, 5);
  EXPECT_EQ(gpu.items, cpu.items);
  for (int i = 3; i < 10; ++i) {
    EXPECT_EQ(gpu.items[i], -1) << "at " << i;
    EXPECT_EQ(gpu.scores[i], -kInf) << "at " << i;
  }
  EXPECT_TRUE(ht::all_close(std::vector<float>(gpu.scores.begin() + 10, gpu.scores.end()),
                            std::vector<float>(cpu.scores.begin() + 10, cpu.scores.end()),
                            kScoreAtol, kScoreRtol));
}

TEST(AllItemsTopKGpu, NanAndMinusInfScoresAreNeverReturned) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  Problem<int64_t> pr{1,      6,  1, {1.0f}, {3.0f, std::nanf(""), -kInf, kInf, -1.0f, 2.0f},
                      {1.0f}, {}, {}};
  const auto gpu = run_topk(hk::Device::cuda(), pr, 6);
  EXPECT_EQ(gpu.items, (std::vector<int64_t>{3, 0, 5, 4, -1, -1}));
  EXPECT_EQ(gpu.scores, (std::vector<float>{kInf, 3.0f, 2.0f, -1.0f, -kInf, -kInf}));
}

TEST(AllItemsTopKGpu, SignedZeroScoresTieOnItemId) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  Problem<int32_t> pr{1, 5, 1, {-1.0f}, {0.0f, -0.0f, 0.0f, -0.0f, -0.0f}, {1.0f}, {}, {}};
  EXPECT_EQ(run_topk(hk::Device::cuda(), pr, 5).items, (std::vector<int32_t>{0, 1, 2, 3, 4}));
}

std::string gpu_topk_error(const Problem<int32_t>& pr, int64_t k, bool check_bounds = true) {
  hk::Device device = hk::Device::cuda();
  device.check_bounds = check_bounds;
  try {
    run_topk(device, pr, k);
  } catch (const hybrec::Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(AllItemsTopKGpu, RejectsOutOfRangeExclusionWithPositionAndUser) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  auto pr = make_problem<int32_t>(3, 10, 2, false, 0, 50);
  pr.offsets = {0, 1, 1, 4};
  pr.excluded = {2, 4, 10, 11};
  const std::string message = gpu_topk_error(pr, 3);
  EXPECT_NE(message.find("excluded item 10 out of range [0, 10) at position 2 (user 2)"),
            std::string::npos)
      << message;
  // Without bounds checking the bad ids are simply never matched.
  EXPECT_EQ(gpu_topk_error(pr, 3, false), "no error");
}

TEST(AllItemsTopKGpu, RejectsMalformedOffsetsAndLargeK) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  auto pr = make_problem<int32_t>(2, 2000, 2, false, 0, 60);
  pr.excluded = {0, 1};
  pr.offsets = {0, 2, 1};
  EXPECT_NE(gpu_topk_error(pr, 2).find("exclude_offsets decreases at user 1"), std::string::npos);
  pr.offsets = {1, 1, 2};
  EXPECT_NE(gpu_topk_error(pr, 2).find("exclude_offsets[0] must be 0, got 1"), std::string::npos);
  pr.offsets.clear();
  EXPECT_NE(gpu_topk_error(pr, 1025).find("k = 1025 exceeds the cuda backend's maximum 1024"),
            std::string::npos);
}

}  // namespace
