#include "serving/thrift/handler.h"

#include "serving/thrift/wire_convert.h"

namespace hybrec::serving {

wire::ServingError serving_error(wire::ErrorCode::type code, const std::string& message) {
  wire::ServingError e;
  e.__set_code(code);
  e.__set_message(message);
  return e;
}

void RecommenderHandler::health(wire::Health& reply) { reply = to_wire(run_.health()); }

void RecommenderHandler::recommend(wire::RecommendReply& reply,
                                   const wire::RecommendRequest& request) {
  reply = std::move(answer({request}, "recommend", false)[0]);
}

void RecommenderHandler::recommend_batch(std::vector<wire::RecommendReply>& replies,
                                         const std::vector<wire::RecommendRequest>& requests) {
  replies = answer(requests, "recommend_batch", true);
}

std::vector<wire::RecommendReply> RecommenderHandler::answer(
    const std::vector<wire::RecommendRequest>& requests, const std::string& name, bool batch) {
  try {
    std::vector<RecommendRequest> in;
    in.reserve(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      in.push_back(
          from_wire(requests[i], batch ? "requests[" + std::to_string(i) + "]" : "request"));
    }
    const std::vector<RecommendReply> out = run_.recommend(in);
    const TitleOf title = [this](int64_t item) { return run_.title(item); };
    std::vector<wire::RecommendReply> replies;
    replies.reserve(out.size());
    for (const RecommendReply& r : out) replies.push_back(to_wire(r, title));
    return replies;
  } catch (const BadRequest& e) {
    throw serving_error(wire::ErrorCode::BAD_REQUEST, name + ": " + e.what());
  } catch (const std::exception& e) {
    throw serving_error(wire::ErrorCode::INTERNAL, name + ": " + e.what());
  }
}

}  // namespace hybrec::serving
