#include "serving/thrift/processor.h"

#include <chrono>
#include <vector>

#include "serving/thrift/handler.h"

namespace hybrec::serving {

namespace at = apache::thrift;

namespace {

void finish_reading(at::protocol::TProtocol* in) {
  in->readMessageEnd();
  in->getTransport()->readEnd();
}

wire::ServingError missing(const std::string& call, const std::string& argument) {
  return serving_error(wire::ErrorCode::BAD_REQUEST,
                       call + ": the argument '" + argument + "' is missing");
}

struct BatchArgs {
  bool present = false;
  int64_t declared = 0;                          // the list's declared length
  std::vector<wire::RecommendRequest> requests;  // empty when declared > max_batch
};

// recommend_batch's arguments as RecommenderService_recommend_batch_args::read
// reads them, except that the list is allocated only when its declared
// length is within max_batch; past it the elements are skipped (they fail
// to parse at once when the frame does not hold them).
BatchArgs read_batch_args(at::protocol::TProtocol* in, int64_t max_batch) {
  BatchArgs args;
  std::string name;
  in->readStructBegin(name);
  for (;;) {
    at::protocol::TType type;
    int16_t id;
    in->readFieldBegin(name, type, id);
    if (type == at::protocol::T_STOP) break;
    if (id == 1 && type == at::protocol::T_LIST) {
      at::protocol::TType element;
      uint32_t size;
      in->readListBegin(element, size);
      args.present = true;
      args.declared = size;
      if (args.declared <= max_batch) {
        args.requests.resize(size);
        for (wire::RecommendRequest& r : args.requests) r.read(in);
      } else {
        for (uint32_t i = 0; i < size; ++i) in->skip(element);
      }
      in->readListEnd();
    } else {
      in->skip(type);
    }
    in->readFieldEnd();
  }
  in->readStructEnd();
  return args;
}

}  // namespace

template <typename Result, typename Call>
void RecommenderProcessor::answer(const char* name, at::protocol::TProtocol* out, int32_t seqid,
                                  Call&& call) {
  const auto start = std::chrono::steady_clock::now();
  Result result;
  try {
    call(result.success);
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
    const int outcome = !result.__isset.error                               ? kCallOk
                        : result.error.code == wire::ErrorCode::BAD_REQUEST ? kCallBadRequest
                                                                            : kCallError;
    observer_(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
              outcome);
  }
}

bool RecommenderProcessor::dispatchCall(at::protocol::TProtocol* in, at::protocol::TProtocol* out,
                                        const std::string& name, int32_t seqid, void* context) {
  // A frame that does not parse throws out of the reads below; the server
  // then closes that connection and keeps serving the others.
  if (name == "recommend") {
    wire::RecommenderService_recommend_args args;
    args.read(in);
    finish_reading(in);
    answer<wire::RecommenderService_recommend_result>("recommend", out, seqid,
                                                      [&](wire::RecommendReply& reply) {
                                                        if (!args.__isset.request)
                                                          throw missing("recommend", "request");
                                                        handler_->recommend(reply, args.request);
                                                      });
    return true;
  }
  if (name == "recommend_batch") {
    const BatchArgs args = read_batch_args(in, max_batch_);
    finish_reading(in);
    answer<wire::RecommenderService_recommend_batch_result>(
        "recommend_batch", out, seqid, [&](std::vector<wire::RecommendReply>& replies) {
          if (!args.present) throw missing("recommend_batch", "requests");
          if (args.declared > max_batch_) {
            throw serving_error(wire::ErrorCode::BAD_REQUEST,
                                "recommend_batch: " + std::to_string(args.declared) +
                                    " requests in one batch; this server takes at most " +
                                    std::to_string(max_batch_));
          }
          handler_->recommend_batch(replies, args.requests);
        });
    return true;
  }
  return RecommenderServiceProcessor::dispatchCall(in, out, name, seqid, context);
}

}  // namespace hybrec::serving
