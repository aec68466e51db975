// CPU bilinear ops against naive double references and central finite
// differences.
#include "hybrec/kernels/bilinear.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "bilinear_reference.h"
#include "testing.h"

namespace hk = hybrec::kernels;
namespace ht = hybrec::testing;

namespace {

const hk::Device kCpu = hk::Device::cpu();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::string shape_name(int64_t batch, int64_t dim) {
  return "batch=" + std::to_string(batch) + " dim=" + std::to_string(dim);
}

// ---------------------------------------------------------------------------
// Bilinear score
// ---------------------------------------------------------------------------

TEST(Bilinear, ForwardMatchesNaiveReference) {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1},   {1, 5},     {7, 33},
                                                           {64, 64}, {129, 128}, {3, 257}};
  for (const auto& [batch, dim] : shapes) {
    SCOPED_TRACE(shape_name(batch, dim));
    const auto u = ht::random_floats(batch * dim, 1);
    const auto v = ht::random_floats(batch * dim, 2);
    const auto w = ht::random_floats(dim * dim, 3);
    std::vector<float> z(batch);
    hk::bilinear_forward(kCpu, {batch, dim, u.data(), v.data(), w.data()}, z.data());
    const auto ref =
        ht::ref_bilinear(ht::to_double(u), ht::to_double(v), ht::to_double(w), batch, dim);
    // float32 rounding grows with the sum of |terms| (~dim), not with |z|.
    EXPECT_TRUE(ht::all_close(z, ref, 2e-6 * dim, 1e-5));
  }
}

TEST(Bilinear, EmptyBatchWritesNothing) {
  const std::vector<float> w(4, 1.0f);
  std::vector<float> dw(4, 3.0f);
  hk::bilinear_forward(kCpu, {0, 2, nullptr, nullptr, w.data()}, nullptr);
  hk::bilinear_backward(kCpu, {0, 2, nullptr, nullptr, w.data()}, nullptr, nullptr, nullptr,
                        dw.data());
  EXPECT_EQ(dw, std::vector<float>(4, 3.0f));
}

// Loss = sum_b r_b z_b, so its gradients are the backward's outputs with dz = r.
TEST(Bilinear, BackwardMatchesFiniteDifferences) {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1}, {3, 5}, {4, 33}};
  for (const auto& [batch, dim] : shapes) {
    SCOPED_TRACE(shape_name(batch, dim));
    const auto u = ht::random_floats(batch * dim, 11);
    const auto v = ht::random_floats(batch * dim, 12);
    const auto w = ht::random_floats(dim * dim, 13);
    const auto r = ht::random_floats(batch, 14);
    const auto dw_before = ht::random_floats(dim * dim, 15);
    std::vector<float> du(batch * dim), dv(batch * dim), dw = dw_before;
    hk::bilinear_backward(kCpu, {batch, dim, u.data(), v.data(), w.data()}, r.data(), du.data(),
                          dv.data(), dw.data());

    const auto loss = [&, batch = batch, dim = dim](const std::vector<double>& uu,
                                                    const std::vector<double>& vv,
                                                    const std::vector<double>& ww) {
      const auto z = ht::ref_bilinear(uu, vv, ww, batch, dim);
      double sum = 0.0;
      for (int64_t b = 0; b < batch; ++b) sum += z[b] * r[b];
      return sum;
    };
    const auto ud = ht::to_double(u), vd = ht::to_double(v), wd = ht::to_double(w);
    const auto du_ref = ht::numeric_gradient([&](const auto& x) { return loss(x, vd, wd); }, ud);
    const auto dv_ref = ht::numeric_gradient([&](const auto& x) { return loss(ud, x, wd); }, vd);
    const auto dw_ref = ht::numeric_gradient([&](const auto& x) { return loss(ud, vd, x); }, wd);
    std::vector<double> dw_delta(dim * dim);
    for (int64_t i = 0; i < dim * dim; ++i) dw_delta[i] = double(dw[i]) - double(dw_before[i]);
    EXPECT_TRUE(ht::all_close(du, du_ref, 1e-4, 1e-4));
    EXPECT_TRUE(ht::all_close(dv, dv_ref, 1e-4, 1e-4));
    EXPECT_TRUE(ht::all_close(dw_delta, dw_ref, 1e-4, 1e-4));
  }
}

TEST(Bilinear, BackwardOverwritesDuDvAndAccumulatesDw) {
  const int64_t batch = 9, dim = 6;
  const auto u = ht::random_floats(batch * dim, 21);
  const auto v = ht::random_floats(batch * dim, 22);
  const auto w = ht::random_floats(dim * dim, 23);
  const auto dz = ht::random_floats(batch, 24);
  const hk::BilinearParams p{batch, dim, u.data(), v.data(), w.data()};
  std::vector<float> du1(batch * dim, 7.0f), dv1(batch * dim, 7.0f), dw(dim * dim, 0.0f);
  hk::bilinear_backward(kCpu, p, dz.data(), du1.data(), dv1.data(), dw.data());
  const std::vector<float> dw_once = dw;
  std::vector<float> du2(batch * dim, -3.0f), dv2(batch * dim, -3.0f);
  hk::bilinear_backward(kCpu, p, dz.data(), du2.data(), dv2.data(), dw.data());
  EXPECT_EQ(du1, du2);
  EXPECT_EQ(dv1, dv2);
  std::vector<double> twice(dw_once.size());
  for (std::size_t i = 0; i < twice.size(); ++i) twice[i] = 2.0 * dw_once[i];
  EXPECT_TRUE(ht::all_close(dw, twice, 1e-6, 1e-6));
}

TEST(Bilinear, RejectsBadShapesAndNullPointers) {
  const std::vector<float> x(4, 1.0f);
  std::vector<float> z(2);
  const auto message = [&](const hk::BilinearParams& p) {
    try {
      hk::bilinear_forward(kCpu, p, z.data());
    } catch (const hybrec::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({-3, 2, x.data(), x.data(), x.data()}).find("batch must be >= 0, got -3"),
            std::string::npos);
  EXPECT_NE(message({2, 0, x.data(), x.data(), x.data()}).find("dim must be positive, got 0"),
            std::string::npos);
  EXPECT_NE(message({2, 2, x.data(), nullptr, x.data()}).find("v is null"), std::string::npos);
  EXPECT_THROW(hk::bilinear_forward(kCpu, {2, 2, x.data(), x.data(), x.data()}, nullptr),
               hybrec::Error);
}

// ---------------------------------------------------------------------------
// Fused score
// ---------------------------------------------------------------------------

TEST(FusedScore, ForwardMatchesNaiveReference) {
  for (const float lambda : {0.0f, 0.5f, -2.0f, 30.0f}) {
    SCOPED_TRACE("lambda=" + std::to_string(lambda));
    for (const int64_t batch : {1, 17, 1000}) {
      const auto z = ht::random_floats(batch, 31, -5.0f, 5.0f);
      const auto g = ht::random_floats(batch, 32);
      std::vector<float> out(batch);
      hk::fused_score_forward(kCpu, {batch, z.data(), g.data(), &lambda}, out.data());
      EXPECT_TRUE(ht::all_close(
          out, ht::ref_fused_score(ht::to_double(z), ht::to_double(g), lambda), 1e-6, 1e-6));
    }
  }
}

TEST(FusedScore, BackwardMatchesFiniteDifferences) {
  for (const float lambda : {0.0f, 0.7f, -1.5f}) {
    SCOPED_TRACE("lambda=" + std::to_string(lambda));
    const int64_t batch = 13;
    const auto z = ht::random_floats(batch, 41, -3.0f, 3.0f);
    const auto g = ht::random_floats(batch, 42);
    const auto r = ht::random_floats(batch, 43);
    std::vector<float> dz(batch), dg(batch);
    float dlambda = 0.25f;
    hk::fused_score_backward(kCpu, {batch, z.data(), g.data(), &lambda}, r.data(), dz.data(),
                             dg.data(), &dlambda);

    const auto loss = [&](const std::vector<double>& zz, const std::vector<double>& gg, double l) {
      const auto out = ht::ref_fused_score(zz, gg, l);
      double sum = 0.0;
      for (int64_t b = 0; b < batch; ++b) sum += out[b] * r[b];
      return sum;
    };
    const auto zd = ht::to_double(z), gd = ht::to_double(g);
    const auto dz_ref =
        ht::numeric_gradient([&](const auto& x) { return loss(x, gd, lambda); }, zd);
    const auto dg_ref =
        ht::numeric_gradient([&](const auto& x) { return loss(zd, x, lambda); }, gd);
    const auto dl_ref = ht::numeric_gradient([&](const auto& x) { return loss(zd, gd, x[0]); },
                                             std::vector<double>{lambda});
    EXPECT_TRUE(ht::all_close(dz, dz_ref, 1e-5, 1e-5));
    EXPECT_TRUE(ht::all_close(dg, dg_ref, 1e-5, 1e-5));
    EXPECT_TRUE(ht::all_close(std::vector<double>{double(dlambda) - 0.25},
                              std::vector<double>{dl_ref[0]}, 1e-5, 1e-5));
  }
}

TEST(FusedScore, BackwardInPlaceOverDoutAndG) {
  const int64_t batch = 50;
  const float lambda = 0.3f;
  const auto z = ht::random_floats(batch, 51);
  const auto g = ht::random_floats(batch, 52);
  const auto dout = ht::random_floats(batch, 53);
  std::vector<float> dz(batch), dg(batch);
  float dlambda = 0.0f;
  hk::fused_score_backward(kCpu, {batch, z.data(), g.data(), &lambda}, dout.data(), dz.data(),
                           dg.data(), &dlambda);
  std::vector<float> dz_in_place = dout, dg_in_place = g;
  float dlambda_in_place = 0.0f;
  hk::fused_score_backward(kCpu, {batch, z.data(), dg_in_place.data(), &lambda}, dz_in_place.data(),
                           dz_in_place.data(), dg_in_place.data(), &dlambda_in_place);
  EXPECT_EQ(dz_in_place, dz);
  EXPECT_EQ(dg_in_place, dg);
  EXPECT_EQ(dlambda_in_place, dlambda);
}

TEST(FusedScore, RejectsNullLambda) {
  const std::vector<float> x(3, 1.0f);
  std::vector<float> out(3);
  try {
    hk::fused_score_forward(kCpu, {3, x.data(), x.data(), nullptr}, out.data());
    FAIL() << "expected hybrec::Error";
  } catch (const hybrec::Error& e) {
    EXPECT_NE(std::string(e.what()).find("lambda is null"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------
// All-items top-k
// ---------------------------------------------------------------------------

struct TopKCase {
  int64_t users, items, dim, k;
  bool integer_inputs;   // exact float arithmetic: results must match exactly, ties included
  int64_t max_excluded;  // per user, ids drawn with replacement (so duplicates occur)
};

std::string case_name(const TopKCase& c) {
  return "users=" + std::to_string(c.users) + " items=" + std::to_string(c.items) +
         " dim=" + std::to_string(c.dim) + " k=" + std::to_string(c.k) +
         (c.integer_inputs ? " integer" : " float") +
         " max_excluded=" + std::to_string(c.max_excluded);
}

// Small integers: every product and sum is exact in float32, so the backend
// and the double reference see identical scores and many exact ties.
std::vector<float> inputs(std::size_t n, uint64_t seed, bool integer) {
  if (!integer) return ht::random_floats(n, seed);
  std::vector<float> out(n);
  const auto ints = ht::random_ints<int>(n, seed, -2, 3);
  for (std::size_t i = 0; i < n; ++i) out[i] = float(ints[i]);
  return out;
}

template <typename Index>
struct Exclusions {
  std::vector<int64_t> offsets;
  std::vector<Index> items;
};

template <typename Index>
Exclusions<Index> random_exclusions(int64_t users, int64_t items, int64_t max_per_user,
                                    uint64_t seed) {
  Exclusions<Index> ex;
  ex.offsets.push_back(0);
  const auto counts = ht::random_ints<int64_t>(users, seed, 0, max_per_user + 1);
  for (int64_t u = 0; u < users; ++u) {
    const auto ids = ht::random_ints<Index>(counts[u], seed + 1 + u, 0, Index(items));
    ex.items.insert(ex.items.end(), ids.begin(), ids.end());
    ex.offsets.push_back(int64_t(ex.items.size()));
  }
  return ex;
}

template <typename Index>
struct TopKResult {
  std::vector<Index> items;
  std::vector<float> scores;
};

template <typename Index>
TopKResult<Index> run_topk(const hk::Device& device, int64_t users, int64_t items, int64_t dim,
                           int64_t k, const std::vector<float>& u, const std::vector<float>& v,
                           const std::vector<float>& w, const Exclusions<Index>* ex) {
  const std::size_t n = static_cast<std::size_t>(users * std::max<int64_t>(k, 0));
  TopKResult<Index> out{std::vector<Index>(n, Index(7)), std::vector<float>(n)};
  hk::AllItemsTopKParams<Index> p;
  p.num_users = users;
  p.num_items = items;
  p.dim = dim;
  p.k = k;
  p.users = u.data();
  p.items = v.data();
  p.w = w.data();
  if (ex != nullptr) {
    p.exclude_offsets = ex->offsets.data();
    p.exclude_items = ex->items.data();
  }
  p.top_items = out.items.data();
  p.top_scores = out.scores.data();
  hk::all_items_topk(device, p);
  return out;
}

// all_close for top-k scores: the -inf padding must match exactly.
::testing::AssertionResult scores_close(const std::vector<float>& got,
                                        const std::vector<double>& ref, double atol, double rtol) {
  std::vector<float> finite_got = got;
  std::vector<double> finite_ref = ref;
  for (std::size_t i = 0; i < got.size() && i < ref.size(); ++i) {
    if (got[i] == -kInf && ref[i] == -kInf) finite_got[i] = 0.0f, finite_ref[i] = 0.0;
  }
  return ht::all_close(finite_got, finite_ref, atol, rtol);
}

template <typename Index>
void check_topk_case(const TopKCase& c, uint64_t seed) {
  SCOPED_TRACE(case_name(c));
  const auto u = inputs(c.users * c.dim, seed, c.integer_inputs);
  const auto v = inputs(c.items * c.dim, seed + 1, c.integer_inputs);
  const auto w = inputs(c.dim * c.dim, seed + 2, c.integer_inputs);
  const auto ex = random_exclusions<Index>(c.users, c.items, c.max_excluded, seed + 3);
  const auto got = run_topk<Index>(kCpu, c.users, c.items, c.dim, c.k, u, v, w,
                                   c.max_excluded > 0 ? &ex : nullptr);
  const auto scores = ht::ref_scores(u, v, w, c.users, c.items, c.dim);
  const auto ref = ht::ref_topk(scores, c.users, c.items, c.k,
                                c.max_excluded > 0 ? ex.offsets : std::vector<int64_t>{}, ex.items);
  if (c.integer_inputs) {
    EXPECT_EQ(std::vector<int64_t>(got.items.begin(), got.items.end()), ref.items);
    EXPECT_EQ(ht::to_double(got.scores), ref.scores);
    return;
  }
  // Float inputs: near-ties may legitimately swap, so check the scores by
  // rank and that every returned item really has the score reported for it.
  EXPECT_TRUE(scores_close(got.scores, ref.scores, 1e-5, 1e-5));
  for (int64_t i = 0; i < c.users * c.k; ++i) {
    const int64_t item = got.items[i];
    if (ref.items[i] < 0) {
      EXPECT_EQ(item, -1) << "at " << i;
      continue;
    }
    ASSERT_GE(item, 0) << "at " << i;
    // The same atol + rtol * |ref| as the scores by rank: with dim 129 the
    // scores reach ~80, where one float ulp is already 8e-6.
    const double ref_score = scores[(i / c.k) * c.items + item];
    EXPECT_NEAR(ref_score, got.scores[i], 1e-5 + 1e-5 * std::abs(ref_score)) << "at " << i;
  }
}

TEST(AllItemsTopK, MatchesNaiveReferenceOverShapes) {
  const std::vector<TopKCase> cases = {
      {1, 1, 1, 1, false, 0},
      {3, 10, 5, 1, false, 4},
      {4, 37, 33, 37, false, 5},
      {5, 5000, 16, 10, false, 30},
      {70, 300, 8, 100, true, 40},
      {6, 5000, 3, 300, true, 50},
      {1030, 50, 4, 5, true, 6},
      {2, 4100, 2, 1, true, 0},
      // Serving's shapes on both sides of the direct-dot-product limit (16
      // users per block): odd dims and an item count off the 4-item unroll.
      {16, 3001, 129, 10, false, 20},
      {16, 2050, 64, 10, true, 8},
      {17, 3001, 65, 10, true, 8},
      // k so large that the candidate buffers split the users into groups.
      {25, 100001, 1, 100000, true, 3},
  };
  for (const auto& c : cases) check_topk_case<int64_t>(c, 100);
  for (const auto& c : cases) check_topk_case<int32_t>(c, 200);
}

TEST(AllItemsTopK, KEqualsItemsRanksEveryItem) {
  check_topk_case<int32_t>({3, 64, 7, 64, true, 0}, 300);
}

TEST(AllItemsTopK, TiesRankLowerItemFirst) {
  // W = 0: every score is exactly 0, so the order is the item ids.
  const int64_t users = 2, items = 9, dim = 3, k = 4;
  const auto u = ht::random_floats(users * dim, 1);
  const auto v = ht::random_floats(items * dim, 2);
  const std::vector<float> w(dim * dim, 0.0f);
  Exclusions<int32_t> ex{{0, 2, 2}, {1, 0}};
  const auto got = run_topk<int32_t>(kCpu, users, items, dim, k, u, v, w, &ex);
  EXPECT_EQ(got.items, (std::vector<int32_t>{2, 3, 4, 5, 0, 1, 2, 3}));
  EXPECT_EQ(got.scores, std::vector<float>(users * k, 0.0f));
}

TEST(AllItemsTopK, TiesAcrossThreadsItemRunsRankLowerItemFirst) {
  // A few users and several item tiles: the threads split the items, and
  // with W = 0 every thread's candidates tie at 0 with the others', so only
  // the merge's id order picks the lowest ids. User 0 excludes the first
  // 2,048 items but item 7, so its answer spans the first thread's run and
  // the next one's.
  const int64_t users = 2, items = 5000, dim = 3, k = 3;
  const auto u = ht::random_floats(users * dim, 6);
  const auto v = ht::random_floats(items * dim, 7);
  const std::vector<float> w(dim * dim, 0.0f);
  Exclusions<int64_t> ex;
  for (int64_t j = 0; j < 2048; ++j) {
    if (j != 7) ex.items.push_back(j);
  }
  ex.offsets = {0, static_cast<int64_t>(ex.items.size())};
  ex.items.push_back(2);
  ex.items.push_back(0);
  ex.offsets.push_back(static_cast<int64_t>(ex.items.size()));
  const auto got = run_topk<int64_t>(kCpu, users, items, dim, k, u, v, w, &ex);
  EXPECT_EQ(got.items, (std::vector<int64_t>{7, 2048, 2049, 1, 3, 4}));
}

TEST(AllItemsTopK, SignedZeroScoresTieOnItemId) {
  // Scores -1 * (+0) = -0 and -1 * (-0) = +0 are equal, so ids decide.
  const std::vector<float> u = {-1.0f}, w = {1.0f}, v = {0.0f, -0.0f, 0.0f, -0.0f, -0.0f};
  const auto got = run_topk<int32_t>(kCpu, 1, 5, 1, 5, u, v, w, nullptr);
  EXPECT_EQ(got.items, (std::vector<int32_t>{0, 1, 2, 3, 4}));
}

TEST(AllItemsTopK, FewerCandidatesThanKPadsWithMinusOne) {
  const int64_t users = 2, items = 10, dim = 4, k = 5;
  const auto u = ht::random_floats(users * dim, 3);
  const auto v = ht::random_floats(items * dim, 4);
  const auto w = ht::random_floats(dim * dim, 5);
  // User 0 keeps 3 items (7 excluded, with duplicates); user 1 keeps none.
  Exclusions<int64_t> ex{{0, 9, 19}, {0, 1, 2, 2, 3, 4, 5, 6, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}};
  const auto got = run_topk<int64_t>(kCpu, users, items, dim, k, u, v, w, &ex);
  const std::set<int64_t> kept(got.items.begin(), got.items.begin() + 3);
  EXPECT_EQ(kept, (std::set<int64_t>{7, 8, 9}));
  EXPECT_GE(got.scores[0], got.scores[1]);
  EXPECT_GE(got.scores[1], got.scores[2]);
  for (int64_t i = 3; i < 2 * k; ++i) {
    EXPECT_EQ(got.items[i], -1) << "at " << i;
    EXPECT_EQ(got.scores[i], -kInf) << "at " << i;
  }
}

TEST(AllItemsTopK, NanAndMinusInfScoresAreNeverReturned) {
  const int64_t items = 6, dim = 1, k = 6;
  const std::vector<float> u = {1.0f}, w = {1.0f};
  const std::vector<float> v = {3.0f, std::nanf(""), -kInf, kInf, -1.0f, 2.0f};
  const auto got = run_topk<int32_t>(kCpu, 1, items, dim, k, u, v, w, nullptr);
  EXPECT_EQ(got.items, (std::vector<int32_t>{3, 0, 5, 4, -1, -1}));
  EXPECT_EQ(got.scores, (std::vector<float>{kInf, 3.0f, 2.0f, -1.0f, -kInf, -kInf}));
}

std::string topk_error(const hk::Device& device, int64_t k, int64_t items,
                       const Exclusions<int32_t>* ex) {
  const int64_t users = 2, dim = 2;
  const std::vector<float> u(users * dim, 1.0f), v(items * dim, 1.0f), w(dim * dim, 1.0f);
  try {
    run_topk<int32_t>(device, users, items, dim, k, u, v, w, ex);
  } catch (const hybrec::Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(AllItemsTopK, RejectsBadK) {
  EXPECT_NE(topk_error(kCpu, 11, 10, nullptr).find("k = 11 exceeds the item count 10"),
            std::string::npos);
  EXPECT_NE(topk_error(kCpu, 0, 10, nullptr).find("k must be positive, got 0"), std::string::npos);
  EXPECT_NE(topk_error(kCpu, -4, 10, nullptr).find("k must be positive, got -4"),
            std::string::npos);
}

TEST(AllItemsTopK, RejectsOutOfRangeExclusionWhenCheckingBounds) {
  Exclusions<int32_t> ex{{0, 1, 3}, {2, 4, 10}};
  const std::string message = topk_error(kCpu, 3, 10, &ex);
  EXPECT_NE(message.find("excluded item 10 out of range [0, 10) at position 2 (user 1)"),
            std::string::npos)
      << message;
  Exclusions<int32_t> negative{{0, 1, 1}, {-1}};
  EXPECT_NE(topk_error(kCpu, 3, 10, &negative).find("excluded item -1"), std::string::npos);
}

TEST(AllItemsTopK, IgnoresOutOfRangeExclusionWithoutBoundsCheck) {
  hk::Device unchecked = kCpu;
  unchecked.check_bounds = false;
  const int64_t dim = 3, items = 8, k = 8;
  const auto u = ht::random_floats(dim, 6);
  const auto v = ht::random_floats(items * dim, 7);
  const auto w = ht::random_floats(dim * dim, 8);
  Exclusions<int32_t> ex{{0, 3}, {-5, 2, 99}};
  const auto got = run_topk<int32_t>(unchecked, 1, items, dim, k, u, v, w, &ex);
  const std::set<int32_t> kept(got.items.begin(), got.items.end());
  EXPECT_EQ(kept, (std::set<int32_t>{-1, 0, 1, 3, 4, 5, 6, 7}));
}

TEST(AllItemsTopK, RejectsMalformedOffsets) {
  Exclusions<int32_t> not_zero{{1, 1, 2}, {0, 1}};
  EXPECT_NE(topk_error(kCpu, 2, 10, &not_zero).find("exclude_offsets[0] must be 0, got 1"),
            std::string::npos);
  Exclusions<int32_t> decreasing{{0, 2, 1}, {0, 1}};
  EXPECT_NE(topk_error(kCpu, 2, 10, &decreasing).find("exclude_offsets decreases at user 1"),
            std::string::npos);
}

TEST(AllItemsTopK, NoUsersIsNoOp) {
  const std::vector<float> v(4, 1.0f), w(4, 1.0f);
  hk::AllItemsTopKParams<int32_t> p;
  p.num_items = 2;
  p.dim = 2;
  p.k = 1;
  p.items = v.data();
  p.w = w.data();
  EXPECT_NO_THROW(hk::all_items_topk(kCpu, p));
}

}  // namespace
