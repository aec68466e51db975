// What the serving suites ask a running `hybrec serve`: JSON answers of
// /recommend and /health, and single samples of /metrics.
#pragma once

#include <httplib.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace hybrec::serving::testing {

// Status and parsed body; status -1 when nothing came back.
using JsonReply = std::pair<int, nlohmann::json>;

inline JsonReply parsed(const httplib::Result& res) {
  if (!res) return {-1, nlohmann::json()};
  return {res->status, nlohmann::json::parse(res->body)};
}

inline JsonReply get_json(int port, const std::string& path, const httplib::Params& params = {}) {
  return parsed(httplib::Client("127.0.0.1", port).Get(path, params, httplib::Headers{}));
}

inline JsonReply post_json(int port, const std::string& body) {
  return parsed(httplib::Client("127.0.0.1", port).Post("/recommend", body, "application/json"));
}

inline std::string get_metrics(int port) {
  auto res = httplib::Client("127.0.0.1", port).Get("/metrics");
  return res && res->status == 200 ? res->body : std::string();
}

// The value of one sample line of an exposition ("name{labels} 3"); NaN
// when the series is missing.
inline double metric(const std::string& text, const std::string& series) {
  const std::size_t at = text.find("\n" + series + " ");
  return at == std::string::npos ? std::nan("") : std::atof(text.c_str() + at + series.size() + 2);
}

}  // namespace hybrec::serving::testing
