#include "serving/thrift/wire_convert.h"

#include "recommender_constants.h"

namespace hybrec::serving {

RecommendRequest from_wire(const wire::RecommendRequest& request, const std::string& where) {
  const auto missing = [&](const char* field) {
    return BadRequest(where + "." + field + " is missing", __FILE__, __LINE__);
  };
  if (!request.__isset.k) throw missing("k");
  if (!request.__isset.exclude_seen) throw missing("exclude_seen");
  // -1 is the library's "no account"; any other negative id is a mistake.
  if (request.__isset.user && request.user < -1) {
    throw BadRequest(where + ".user = " + std::to_string(request.user) +
                         " is not a user id (leave it out for a visitor without an account)",
                     __FILE__, __LINE__);
  }
  RecommendRequest r;
  if (request.__isset.user) r.user = request.user;
  if (request.__isset.recent_items) r.recent_items = request.recent_items;
  if (request.__isset.query) r.query = request.query;
  r.k = request.k;
  r.exclude_seen = request.exclude_seen;
  if (request.__isset.exclude_items) r.exclude_items = request.exclude_items;
  if (request.__isset.explain) r.explain = request.explain;
  if (request.__isset.explain_k) r.explain_k = request.explain_k;
  return r;
}

wire::RecommendReply to_wire(const RecommendReply& reply, const TitleOf& title) {
  wire::RecommendReply out;
  out.items.reserve(reply.items.size());
  for (const ScoredItem& item : reply.items) {
    wire::ScoredItem w;
    w.__set_item(item.item);
    w.__set_title(title(item.item));
    w.__set_score(item.score);
    w.__set_cf(item.cf);
    w.__set_text(item.text);
    w.__set_new_item(item.new_item);
    if (item.explained) {
      w.__set_explanation(item.explanation);
      w.__set_aspects(item.aspects);
    }
    out.items.push_back(std::move(w));
  }
  out.__isset.items = true;
  out.__set_new_user(reply.new_user);
  out.__set_snapshot_version(reply.snapshot_version);
  return out;
}

wire::Health to_wire(const ServeHealth& health) {
  wire::Health h;
  h.__set_wire_version(wire::g_recommender_constants.WIRE_VERSION);
  h.__set_snapshot_version(health.snapshot_version);
  h.__set_snapshot_age_s(health.snapshot_age_s);
  h.__set_num_items(health.num_items);
  h.__set_rebuilds(health.rebuilds);
  h.__set_rebuild_failures(health.rebuild_failures);
  h.__set_last_error(health.last_error);
  return h;
}

}  // namespace hybrec::serving
