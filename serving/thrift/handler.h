// The recommender service (recommender.thrift) answered from a ServedRun.
// A request the caller got wrong (BadRequest, including a missing field) is
// a ServingError BAD_REQUEST; any other failure is INTERNAL with its
// message. The calls' own arguments and the batch's size are checked before
// this is reached (processor.h).
#pragma once

#include <string>
#include <vector>

#include "RecommenderService.h"
#include "serving/served_run.h"

namespace hybrec::serving {

class RecommenderHandler : public wire::RecommenderServiceIf {
 public:
  // run must outlive the handler.
  explicit RecommenderHandler(ServedRun& run) : run_(run) {}

  void health(wire::Health& reply) override;
  void recommend(wire::RecommendReply& reply, const wire::RecommendRequest& request) override;
  void recommend_batch(std::vector<wire::RecommendReply>& replies,
                       const std::vector<wire::RecommendRequest>& requests) override;

 private:
  std::vector<wire::RecommendReply> answer(const std::vector<wire::RecommendRequest>& requests,
                                           const std::string& name, bool batch);

  ServedRun& run_;
};

// A ServingError with this code and message.
wire::ServingError serving_error(wire::ErrorCode::type code, const std::string& message);

}  // namespace hybrec::serving
