// serving/metrics.h without a server: bucket edges, cumulative buckets,
// outcomes per interface, concurrent observers, the ServeHealth gauges.
#include "serving/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace hybrec::serving {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(Metrics, LatenciesFallInTheFirstBucketThatHoldsThemAndBucketsAreCumulative) {
  Metrics m;
  m.observe(Interface::kHttp, 0.0005, Outcome::kOk);  // on an edge: le is inclusive
  m.observe(Interface::kHttp, 0.0006, Outcome::kOk);
  m.observe(Interface::kHttp, 30.0, Outcome::kError);  // past the last bucket: +Inf only
  const std::string text = m.render(ServeHealth{});
  const std::string b = "hybrec_serve_request_duration_seconds_bucket{interface=\"http\",";
  EXPECT_TRUE(has_line(text, b + "le=\"0.0005\"} 1")) << text;
  EXPECT_TRUE(has_line(text, b + "le=\"0.001\"} 2")) << text;
  EXPECT_TRUE(has_line(text, b + "le=\"2.5\"} 2")) << text;
  EXPECT_TRUE(has_line(text, b + "le=\"+Inf\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "hybrec_serve_request_duration_seconds_count{interface=\"http\"} 3"));
  EXPECT_TRUE(
      has_line(text, "hybrec_serve_request_duration_seconds_sum{interface=\"http\"} 30.0011"))
      << text;
}

TEST(Metrics, OutcomesAreCountedPerInterfaceAndEverySeriesExistsFromTheStart) {
  Metrics m;
  m.observe(Interface::kThrift, 0.01, Outcome::kBadRequest);
  const std::string text = m.render(ServeHealth{});
  const std::string r = "hybrec_serve_requests_total";
  EXPECT_TRUE(has_line(text, r + "{interface=\"thrift\",outcome=\"bad_request\"} 1")) << text;
  EXPECT_TRUE(has_line(text, r + "{interface=\"thrift\",outcome=\"ok\"} 0")) << text;
  EXPECT_TRUE(has_line(text, r + "{interface=\"http\",outcome=\"error\"} 0")) << text;
  EXPECT_NE(text.find("# TYPE hybrec_serve_requests_total counter\n"), std::string::npos);
}

TEST(Metrics, ConcurrentObserversLoseNoCount) {
  Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < 10000; ++i) m.observe(Interface::kHttp, 0.002, Outcome::kOk);
    });
  }
  for (std::thread& t : threads) t.join();
  const std::string text = m.render(ServeHealth{});
  EXPECT_TRUE(
      has_line(text, "hybrec_serve_requests_total{interface=\"http\",outcome=\"ok\"} 40000"));
  EXPECT_TRUE(has_line(
      text,
      "hybrec_serve_request_duration_seconds_bucket{interface=\"http\",le=\"0.0025\"} 40000"));
}

TEST(Metrics, TheServedRunsStateIsReported) {
  ServeHealth h;
  h.snapshot_version = 4;
  h.snapshot_age_s = 12.5;
  h.rebuilds = 3;
  h.rebuild_failures = 2;
  h.ps_errors = 7;
  h.streamed_events = 1234;
  h.num_items = 3000;
  const std::string text = Metrics().render(h);
  for (const char* line :
       {"hybrec_serve_item_matrix_version 4", "hybrec_serve_item_matrix_age_seconds 12.5",
        "hybrec_serve_item_matrix_rebuilds_total 3",
        "hybrec_serve_item_matrix_rebuild_failures_total 2", "hybrec_serve_ps_errors_total 7",
        "hybrec_serve_streamed_events_total 1234", "hybrec_serve_catalogue_items 3000"}) {
    EXPECT_TRUE(has_line(text, line)) << line << " missing from:\n" << text;
  }
}

}  // namespace
}  // namespace hybrec::serving
