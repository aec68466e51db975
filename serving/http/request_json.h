// The HTTP interface's wire forms: recommend requests from a URL's query
// parameters or a JSON body, and replies and health as JSON. Parsing is
// strict, so a typo never silently changes a request: an unknown field or
// parameter, a wrong type, a non-integer id or a malformed body throws
// BadRequest naming it.
//
//   GET  /recommend?user=42&k=10&query=...&items=1,2,3&exclude_seen=0&exclude=5,6
//                   &explain=1&explain_k=3
//   POST /recommend  {"user":42,"k":10,"query":"...","recent_items":[1,2],
//                     "exclude_seen":true,"exclude_items":[5,6],
//                     "explain":true,"explain_k":3}
//   POST /recommend  {"requests":[{...},{...}]}   (a batch: one recommend() call)
//
// Every field is optional; defaults are RecommendRequest's (no user, k 10,
// exclude_seen true, explain false, explain_k 3). user is a non-negative id;
// leave it out for a visitor without an account.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "serving/recommender.h"
#include "serving/served_run.h"

namespace hybrec::serving::http {

// The most requests one batch may carry.
constexpr std::size_t kMaxBatch = 1024;

struct ParsedRequests {
  std::vector<RecommendRequest> requests;
  bool batch = false;  // {"requests":[...]}: the reply is {"replies":[...]}
};

// params: the URL's query parameters (httplib::Params is this multimap).
RecommendRequest request_from_params(const std::multimap<std::string, std::string>& params);
ParsedRequests requests_from_json(const std::string& body);

// {"items":[{"item":7,"title":"...","score":..,"cf":..,"text":..,"new_item":..}],
//  "new_user":false,"snapshot_version":3}; an explained item also has
// "explanation":"..." and "aspects":["...",...].
nlohmann::ordered_json reply_json(const RecommendReply& reply, const ServedRun& served);

// ServeHealth's fields, plus "status": "stale" when stale_after_s > 0 and the
// item matrix is older than that, else "ok".
nlohmann::ordered_json health_json(const ServeHealth& health, double stale_after_s);

}  // namespace hybrec::serving::http
