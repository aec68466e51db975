// Between the serving library's requests and replies and their Thrift form
// (serving/wire/recommender.thrift).
#pragma once

#include <functional>
#include <string>

#include "RecommenderService.h"
#include "serving/recommender.h"
#include "serving/served_run.h"

namespace hybrec::serving {

// The request a wire request asks for. `where` names it in messages
// ("request", "requests[3]"); a field the wire contract requires that was
// not sent is a BadRequest naming it ("requests[3].k is missing"), and so
// is a user id below -1 (absent or -1: no account).
RecommendRequest from_wire(const wire::RecommendRequest& request, const std::string& where);

using TitleOf = std::function<std::string(int64_t item)>;

wire::RecommendReply to_wire(const RecommendReply& reply, const TitleOf& title);
wire::Health to_wire(const ServeHealth& health);

}  // namespace hybrec::serving
