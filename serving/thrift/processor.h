// The recommender's Thrift processor. The bytes on the wire are the
// generated processor's; it differs in what it lets through:
// - presence: the generated code would hand the handler an empty request
//   (or an empty batch) for a call that left its argument out; here such a
//   call is BAD_REQUEST naming the argument, and never reaches the handler;
// - batch size: recommend_batch's length is checked against max_batch
//   before anything is allocated for it (BAD_REQUEST past it). A declared
//   length is only a claim, and Thrift's own check against the frame's
//   remaining bytes counts a struct as 0 bytes, so the generated reader
//   would allocate a million requests for a 20-byte frame that asks;
// - failures: an exception the handler throws that is not a ServingError
//   is INTERNAL with its message (the generated code would answer with an
//   untyped TApplicationException);
// - each recommend and recommend_batch call is reported to the observer.
// health and unknown method names are the generated processor's.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "RecommenderService.h"

namespace hybrec::serving {

// What a call ended as, for CallObserver.
enum CallOutcome { kCallOk = 0, kCallBadRequest = 1, kCallError = 2 };

// Called once per recommend or recommend_batch call, on the worker thread
// that served it, after its reply was written: seconds from the arguments
// read to the reply written, and the CallOutcome as an int. Calls come from
// several workers at once, so it must be thread-safe; it must not throw
// (the connection would be dropped). Frames that are not a call (malformed,
// oversized) and health calls are not reported.
using CallObserver = std::function<void(double seconds, int outcome)>;

class RecommenderProcessor : public wire::RecommenderServiceProcessor {
 public:
  // max_batch: the most requests one recommend_batch may hold. observer
  // may be empty.
  RecommenderProcessor(std::shared_ptr<wire::RecommenderServiceIf> handler, int64_t max_batch,
                       CallObserver observer)
      : RecommenderServiceProcessor(handler),
        handler_(std::move(handler)),
        max_batch_(max_batch),
        observer_(std::move(observer)) {}

 protected:
  bool dispatchCall(apache::thrift::protocol::TProtocol* in,
                    apache::thrift::protocol::TProtocol* out, const std::string& name,
                    int32_t seqid, void* context) override;

 private:
  // Runs call(result.success) and writes the reply: the result, or the
  // ServingError it threw, or INTERNAL for any other exception.
  template <typename Result, typename Call>
  void answer(const char* name, apache::thrift::protocol::TProtocol* out, int32_t seqid,
              Call&& call);

  std::shared_ptr<wire::RecommenderServiceIf> handler_;
  const int64_t max_batch_;
  CallObserver observer_;
};

}  // namespace hybrec::serving
