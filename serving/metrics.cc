#include "serving/metrics.h"

#include <cstdio>
#include <sstream>

namespace hybrec::serving {

namespace {

constexpr const char* kInterfaces[] = {"http", "thrift"};
constexpr const char* kOutcomes[] = {"ok", "bad_request", "error"};

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void header(std::ostringstream& out, const std::string& name, const char* type, const char* help) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
}

void sample(std::ostringstream& out, const std::string& name, const char* type, const char* help,
            double value) {
  header(out, name, type, help);
  out << name << " " << number(value) << "\n";
}

}  // namespace

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void Metrics::observe(Interface interface, double seconds, Outcome outcome) {
  std::lock_guard<std::mutex> lock(mutex_);
  Series& s = series_[static_cast<std::size_t>(interface)];
  ++s.outcomes[static_cast<std::size_t>(outcome)];
  for (std::size_t b = 0; b < kBuckets.size(); ++b) {
    if (seconds <= kBuckets[b]) {
      ++s.buckets[b];
      break;
    }
  }
  s.seconds += seconds;
  ++s.count;
}

std::string Metrics::render(const ServeHealth& health) const {
  std::array<Series, 2> series;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    series = series_;
  }
  std::ostringstream out;
  const std::string requests = "hybrec_serve_requests_total";
  header(out, requests, "counter", "Requests answered, by interface and outcome.");
  for (std::size_t i = 0; i < series.size(); ++i) {
    for (std::size_t o = 0; o < series[i].outcomes.size(); ++o) {
      out << requests << "{interface=\"" << kInterfaces[i] << "\",outcome=\"" << kOutcomes[o]
          << "\"} " << series[i].outcomes[o] << "\n";
    }
  }
  const std::string latency = "hybrec_serve_request_duration_seconds";
  header(out, latency, "histogram", "Time to answer a request (a batch is one request).");
  for (std::size_t i = 0; i < series.size(); ++i) {
    const std::string label = std::string("interface=\"") + kInterfaces[i] + "\"";
    int64_t cumulative = 0;
    for (std::size_t b = 0; b < kBuckets.size(); ++b) {
      cumulative += series[i].buckets[b];
      out << latency << "_bucket{" << label << ",le=\"" << number(kBuckets[b]) << "\"} "
          << cumulative << "\n";
    }
    out << latency << "_bucket{" << label << ",le=\"+Inf\"} " << series[i].count << "\n";
    out << latency << "_sum{" << label << "} " << number(series[i].seconds) << "\n";
    out << latency << "_count{" << label << "} " << series[i].count << "\n";
  }
  sample(out, "hybrec_serve_item_matrix_version", "gauge",
         "Version of the item matrix in use (1, 2, ... per rebuild in this process).",
         static_cast<double>(health.snapshot_version));
  sample(out, "hybrec_serve_item_matrix_age_seconds", "gauge",
         "Seconds since the item matrix in use was built.", health.snapshot_age_s);
  sample(out, "hybrec_serve_item_matrix_rebuilds_total", "counter",
         "Item matrix rebuilds that succeeded.", static_cast<double>(health.rebuilds));
  sample(out, "hybrec_serve_item_matrix_rebuild_failures_total", "counter",
         "Item matrix rebuilds that failed (the previous matrix kept serving).",
         static_cast<double>(health.rebuild_failures));
  sample(out, "hybrec_serve_ps_errors_total", "counter",
         "Failed pulls from the parameter servers (rebuilds and user rows).",
         static_cast<double>(health.ps_errors));
  sample(out, "hybrec_serve_stale_user_rows_total", "counter",
         "User rows answered from the last pull because the servers could not be reached.",
         static_cast<double>(health.stale_user_rows));
  sample(out, "hybrec_serve_new_items", "gauge",
         "Items that arrived on the live stream after the dataset.",
         static_cast<double>(health.new_items));
  sample(out, "hybrec_serve_streamed_events_total", "counter",
         "Interaction events received from the live stream.",
         static_cast<double>(health.streamed_events));
  sample(out, "hybrec_serve_catalogue_items", "gauge", "Items in the catalogue being served.",
         static_cast<double>(health.num_items));
  return out.str();
}

}  // namespace hybrec::serving
