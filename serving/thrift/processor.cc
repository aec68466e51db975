#include "serving/thrift/processor.h"

#include <chrono>

#include "serving/thrift/handler.h"

namespace hybrec::serving {

namespace at = apache::thrift;

template <typename Args, typename Result, typename Present, typename Call>
void RecommenderProcessor::serve(const char* name, const char* argument,
                                 at::protocol::TProtocol* in, at::protocol::TProtocol* out,
                                 int32_t seqid, Present&& present, Call&& call) {
  // A frame that does not parse throws out of here; the server then closes
  // that connection and keeps serving the others.
  Args args;
  args.read(in);
  in->readMessageEnd();
  in->getTransport()->readEnd();
  const auto start = std::chrono::steady_clock::now();
  Result result;
  try {
    if (!present(args)) {
      throw serving_error(wire::ErrorCode::BAD_REQUEST,
                          std::string(name) + ": the argument '" + argument + "' is missing");
    }
    call(args, result.success);
    result.__isset.success = true;
  } catch (wire::ServingError& error) {
    result.error = std::move(error);
    result.__isset.error = true;
  } catch (const std::exception& e) {
    result.error = serving_error(wire::ErrorCode::INTERNAL, std::string(name) + ": " + e.what());
    result.__isset.error = true;
  }
  out->writeMessageBegin(name, at::protocol::T_REPLY, seqid);
  result.write(out);
  out->writeMessageEnd();
  out->getTransport()->writeEnd();
  out->getTransport()->flush();
  if (observer_) {
    const int outcome = !result.__isset.error ? kCallOk
                        : result.error.code == wire::ErrorCode::BAD_REQUEST ? kCallBadRequest
                                                                            : kCallError;
    observer_(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
              outcome);
  }
}

bool RecommenderProcessor::dispatchCall(at::protocol::TProtocol* in, at::protocol::TProtocol* out,
                                        const std::string& name, int32_t seqid, void* context) {
  if (name == "recommend") {
    serve<wire::RecommenderService_recommend_args, wire::RecommenderService_recommend_result>(
        "recommend", "request", in, out, seqid, [](const auto& a) { return a.__isset.request; },
        [&](const auto& a, wire::RecommendReply& r) { handler_->recommend(r, a.request); });
    return true;
  }
  if (name == "recommend_batch") {
    serve<wire::RecommenderService_recommend_batch_args,
          wire::RecommenderService_recommend_batch_result>(
        "recommend_batch", "requests", in, out, seqid,
        [](const auto& a) { return a.__isset.requests; },
        [&](const auto& a, std::vector<wire::RecommendReply>& r) {
          handler_->recommend_batch(r, a.requests);
        });
    return true;
  }
  return RecommenderServiceProcessor::dispatchCall(in, out, name, seqid, context);
}

}  // namespace hybrec::serving
