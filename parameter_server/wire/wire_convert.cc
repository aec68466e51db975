#include "parameter_server/wire/wire_convert.h"

#include <thrift/TOutput.h>

#include <mutex>
#include <utility>

namespace hybrec::ps {

wire::TableSpec to_wire(const TableSpec& spec) {
  wire::TableSpec out;
  out.__set_name(spec.name);
  out.__set_dim(spec.dim);
  out.__set_optimizer(static_cast<wire::Optimizer::type>(spec.optimizer));
  out.__set_learning_rate(spec.learning_rate);
  out.__set_eps(spec.eps);
  out.__set_beta1(spec.beta1);
  out.__set_beta2(spec.beta2);
  out.__set_weight_decay(spec.weight_decay);
  out.__set_init_scale(spec.init_scale);
  out.__set_seed(spec.seed);
  out.__set_num_shards(spec.num_shards);
  out.__set_routing(spec.routing);
  out.__set_max_rows(spec.max_rows);
  out.__set_admit_after(spec.admit_after);
  out.__set_ttl_s(spec.ttl_s);
  return out;
}

const char* missing_field(const wire::TableSpec& spec) {
  const auto& set = spec.__isset;
  const std::pair<bool, const char*> fields[] = {{set.name, "spec.name"},
                                                 {set.dim, "spec.dim"},
                                                 {set.optimizer, "spec.optimizer"},
                                                 {set.learning_rate, "spec.learning_rate"},
                                                 {set.eps, "spec.eps"},
                                                 {set.beta1, "spec.beta1"},
                                                 {set.beta2, "spec.beta2"},
                                                 {set.weight_decay, "spec.weight_decay"},
                                                 {set.init_scale, "spec.init_scale"},
                                                 {set.seed, "spec.seed"},
                                                 {set.num_shards, "spec.num_shards"},
                                                 {set.routing, "spec.routing"},
                                                 {set.max_rows, "spec.max_rows"},
                                                 {set.admit_after, "spec.admit_after"},
                                                 {set.ttl_s, "spec.ttl_s"}};
  for (const auto& [present, field] : fields) {
    if (!present) return field;
  }
  return nullptr;
}

TableSpec from_wire(const wire::TableSpec& spec) {
  TableSpec out;
  out.name = spec.name;
  out.dim = spec.dim;
  out.optimizer = static_cast<Optimizer>(spec.optimizer);
  out.learning_rate = spec.learning_rate;
  out.eps = spec.eps;
  out.beta1 = spec.beta1;
  out.beta2 = spec.beta2;
  out.weight_decay = spec.weight_decay;
  out.init_scale = spec.init_scale;
  out.seed = spec.seed;
  out.num_shards = spec.num_shards;
  out.routing = spec.routing;
  out.max_rows = spec.max_rows;
  out.admit_after = spec.admit_after;
  out.ttl_s = spec.ttl_s;
  return out;
}

wire::PsError to_wire(const RequestError& error) {
  wire::PsError out;
  out.__set_code(static_cast<wire::ErrorCode::type>(error.code()));
  out.__set_message(error.what());
  return out;
}

RequestError from_wire(const wire::PsError& error) {
  const int code = static_cast<int>(error.code);
  const ErrorCode known = (code >= 1 && code <= static_cast<int>(ErrorCode::kLast))
                              ? static_cast<ErrorCode>(code)
                              : ErrorCode::kInternal;
  return RequestError(known, error.message, __FILE__, __LINE__);
}

void silence_thrift_output() {
  static std::once_flag once;
  std::call_once(once, [] { apache::thrift::GlobalOutput.setOutputFunction([](const char*) {}); });
}

}  // namespace hybrec::ps
