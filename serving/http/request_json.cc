#include "serving/http/request_json.h"

#include <cerrno>
#include <cstdlib>
#include <limits>

namespace hybrec::serving::http {

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& why) { throw BadRequest(why, __FILE__, __LINE__); }

// A value as the client wrote it, shortened for an error message.
std::string shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() > 40 ? text.substr(0, 40) + "..." : text;
}

std::string shown(const std::string& text) {
  return "'" + (text.size() > 40 ? text.substr(0, 40) + "..." : text) + "'";
}

// --- query parameters ---

bool parse_int(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0' || errno != 0) return false;
  *out = v;
  return true;
}

int64_t param_int(const std::string& name, const std::string& text) {
  int64_t v = 0;
  if (!parse_int(text, &v)) bad("parameter '" + name + "': " + shown(text) + " is not an integer");
  return v;
}

std::vector<int64_t> param_ids(const std::string& name, const std::string& text) {
  std::vector<int64_t> ids;
  if (text.empty()) return ids;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string part = text.substr(start, comma == std::string::npos ? comma : comma - start);
    int64_t v = 0;
    if (!parse_int(part, &v)) {
      bad("parameter '" + name + "': " + shown(part) +
          " is not an integer id (a comma-separated list of item ids, e.g. 1,2,3)");
    }
    ids.push_back(v);
    if (comma == std::string::npos) return ids;
    start = comma + 1;
  }
}

bool param_bool(const std::string& name, const std::string& text) {
  if (text == "1" || text == "true") return true;
  if (text == "0" || text == "false") return false;
  bad("parameter '" + name + "': " + shown(text) + " is not 0, 1, true or false");
}

// --- JSON ---

std::string where(std::size_t index, const std::string& field) {
  return "request " + std::to_string(index) + ": field '" + field + "'";
}

int64_t json_int(const json& v, const std::string& at) {
  if (!v.is_number_integer() ||
      (v.is_number_unsigned() && v.get<uint64_t>() > std::numeric_limits<int64_t>::max())) {
    bad(at + " must be an integer, got " + shown(v));
  }
  return v.get<int64_t>();
}

std::vector<int64_t> json_ids(const json& v, std::size_t index, const std::string& field) {
  if (!v.is_array()) {
    bad(where(index, field) + " must be an array of integer item ids, got " + shown(v));
  }
  std::vector<int64_t> ids;
  ids.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    ids.push_back(json_int(v[i], where(index, field + "[" + std::to_string(i) + "]")));
  }
  return ids;
}

RecommendRequest request_from_object(const json& object, std::size_t index) {
  if (!object.is_object()) {
    bad("request " + std::to_string(index) + " must be a JSON object, got " + shown(object));
  }
  RecommendRequest r;
  for (const auto& [key, v] : object.items()) {
    const std::string at = where(index, key);
    if (key == "user") {
      r.user = json_int(v, at);
      if (r.user < 0) bad(at + " must be a non-negative user id (leave it out for no account)");
    } else if (key == "k") {
      r.k = json_int(v, at);
    } else if (key == "query") {
      if (!v.is_string()) bad(at + " must be a string, got " + shown(v));
      r.query = v.get<std::string>();
    } else if (key == "recent_items") {
      r.recent_items = json_ids(v, index, key);
    } else if (key == "exclude_seen") {
      if (!v.is_boolean()) bad(at + " must be true or false, got " + shown(v));
      r.exclude_seen = v.get<bool>();
    } else if (key == "exclude_items") {
      r.exclude_items = json_ids(v, index, key);
    } else if (key == "explain") {
      if (!v.is_boolean()) bad(at + " must be true or false, got " + shown(v));
      r.explain = v.get<bool>();
    } else if (key == "explain_k") {
      r.explain_k = json_int(v, at);
    } else {
      bad("request " + std::to_string(index) + ": unknown field " + shown(key) +
          " (fields: user, k, query, recent_items, exclude_seen, exclude_items, explain, "
          "explain_k)");
    }
  }
  return r;
}

}  // namespace

RecommendRequest request_from_params(const std::multimap<std::string, std::string>& params) {
  RecommendRequest r;
  for (auto it = params.begin(); it != params.end(); ++it) {
    const std::string& name = it->first;
    const std::string& value = it->second;
    if (params.count(name) > 1) bad("parameter '" + name + "' is given more than once");
    if (name == "user") {
      r.user = param_int(name, value);
      if (r.user < 0)
        bad("parameter 'user': must be a non-negative user id (leave it out for no account)");
    } else if (name == "k") {
      r.k = param_int(name, value);
    } else if (name == "query") {
      r.query = value;
    } else if (name == "items") {
      r.recent_items = param_ids(name, value);
    } else if (name == "exclude_seen") {
      r.exclude_seen = param_bool(name, value);
    } else if (name == "exclude") {
      r.exclude_items = param_ids(name, value);
    } else if (name == "explain") {
      r.explain = param_bool(name, value);
    } else if (name == "explain_k") {
      r.explain_k = param_int(name, value);
    } else {
      bad("unknown parameter " + shown(name) +
          " (parameters: user, k, query, items, exclude_seen, exclude, explain, explain_k)");
    }
  }
  return r;
}

ParsedRequests requests_from_json(const std::string& body) {
  json doc;
  try {
    doc = json::parse(body);
  } catch (const json::parse_error& e) {
    bad(std::string("malformed JSON body: ") + e.what());
  }
  if (!doc.is_object()) bad("the body must be a JSON object, got " + shown(doc));
  ParsedRequests out;
  const auto batch = doc.find("requests");
  if (batch == doc.end()) {
    out.requests.push_back(request_from_object(doc, 0));
    return out;
  }
  out.batch = true;
  for (const auto& [key, v] : doc.items()) {
    if (key != "requests") {
      bad("unknown field " + shown(key) +
          " next to 'requests' (a batch is {\"requests\":[...]} alone)");
    }
  }
  if (!batch->is_array())
    bad("field 'requests' must be an array of requests, got " + shown(*batch));
  if (batch->empty() || batch->size() > kMaxBatch) {
    bad("field 'requests' holds " + std::to_string(batch->size()) +
        " requests; a batch holds 1 to " + std::to_string(kMaxBatch));
  }
  for (std::size_t i = 0; i < batch->size(); ++i) {
    out.requests.push_back(request_from_object((*batch)[i], i));
  }
  return out;
}

nlohmann::ordered_json reply_json(const RecommendReply& reply, const ServedRun& served) {
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  for (const ScoredItem& s : reply.items) {
    nlohmann::ordered_json item = {{"item", s.item},
                                   {"title", served.title(s.item)},
                                   {"score", s.score},
                                   {"cf", s.cf},
                                   {"text", s.text},
                                   {"new_item", s.new_item}};
    if (s.explained) {
      item["explanation"] = s.explanation;
      item["aspects"] = s.aspects;
    }
    items.push_back(std::move(item));
  }
  return {{"items", std::move(items)},
          {"new_user", reply.new_user},
          {"snapshot_version", reply.snapshot_version}};
}

nlohmann::ordered_json health_json(const ServeHealth& h, double stale_after_s) {
  const bool stale = stale_after_s > 0 && h.snapshot_age_s > stale_after_s;
  return {{"status", stale ? "stale" : "ok"},
          {"stale_after_s", stale_after_s},
          {"snapshot_version", h.snapshot_version},
          {"snapshot_age_s", h.snapshot_age_s},
          {"rows_from", h.rows_from},
          {"step_dir", h.step_dir},
          {"num_items", h.num_items},
          {"rebuilds", h.rebuilds},
          {"rebuild_failures", h.rebuild_failures},
          {"last_error", h.last_error},
          {"ps_errors", h.ps_errors},
          {"stale_user_rows", h.stale_user_rows},
          {"streamed_events", h.streamed_events},
          {"new_items", h.new_items},
          {"stream_error", h.stream_error},
          {"index",
           {{"kind", h.index.kind},
            {"nlist", h.index.nlist},
            {"nprobe", h.index.nprobe},
            {"recall_k", h.index.recall_k},
            {"recall", h.index.recall},
            {"build_s", h.index.build_s}}}};
}

}  // namespace hybrec::serving::http
