#include "parameter_server/wire/table_spec.h"

#include <cmath>
#include <sstream>

#include "parameter_server/wire/errors.h"

namespace hybrec::ps {

int64_t state_floats(const TableSpec& spec) {
  switch (spec.optimizer) {
    case Optimizer::kSgd:
      return 0;
    case Optimizer::kRowwiseAdagrad:
      return 1;
    case Optimizer::kAdam:
      return 2 * static_cast<int64_t>(spec.dim) + 1;
  }
  return 0;
}

void validate(const TableSpec& spec) {
  if (spec.name.empty() || spec.name.size() > 128) {
    HYBREC_PS_REJECT(ErrorCode::kBadSpec, "table name must be 1 to 128 characters, got ",
                     spec.name.size());
  }
  for (char c : spec.name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) {
      HYBREC_PS_REJECT(ErrorCode::kBadSpec, "table name '", spec.name,
                       "' may only hold letters, digits, '_', '-' and '.'");
    }
  }
  if (spec.dim < 1 || spec.dim > kMaxDim) {
    HYBREC_PS_REJECT(ErrorCode::kBadSpec, "table '", spec.name, "': dim ", spec.dim,
                     " out of range [1, ", kMaxDim, "]");
  }
  const int o = static_cast<int>(spec.optimizer);
  if (o < 1 || o > 3) {
    HYBREC_PS_REJECT(ErrorCode::kBadSpec, "table '", spec.name, "': unknown optimizer ", o);
  }
  auto check = [&](const char* field, double v, double lo, double hi) {
    if (!std::isfinite(v) || v < lo || v > hi) {
      HYBREC_PS_REJECT(ErrorCode::kBadSpec, "table '", spec.name, "': ", field, " = ", v,
                       " out of range [", lo, ", ", hi, "]");
    }
  };
  check("learning_rate", spec.learning_rate, 0.0, 1e6);
  check("eps", spec.eps, 0.0, 1.0);
  check("init_scale", spec.init_scale, 0.0, 1e6);
  if (spec.num_shards < 1 || spec.num_shards > 99999) {
    HYBREC_PS_REJECT(ErrorCode::kBadSpec, "table '", spec.name, "': num_shards ", spec.num_shards,
                     " out of range [1, 99999]");
  }
  if (spec.routing != kJumpRouting) {
    HYBREC_PS_REJECT(ErrorCode::kBadSpec, "table '", spec.name, "': unknown routing '",
                     spec.routing, "' (expected '", kJumpRouting, "')");
  }
  if (spec.max_rows < 0) {
    HYBREC_PS_REJECT(ErrorCode::kBadSpec, "table '", spec.name, "': max_rows ", spec.max_rows,
                     " is negative (0 means no cap)");
  }
  if (spec.admit_after < 0 || spec.admit_after > 255) {
    HYBREC_PS_REJECT(ErrorCode::kBadSpec, "table '", spec.name, "': admit_after ", spec.admit_after,
                     " out of range [0, 255]");
  }
  check("ttl_s", spec.ttl_s, 0.0, 1e9);
  if (spec.optimizer == Optimizer::kAdam) {
    check("beta1", spec.beta1, 0.0, 0.999999);
    check("beta2", spec.beta2, 0.0, 0.999999);
    check("weight_decay", spec.weight_decay, 0.0, 1.0);
  }
}

bool operator==(const TableSpec& a, const TableSpec& b) {
  return a.name == b.name && a.dim == b.dim && a.optimizer == b.optimizer &&
         a.learning_rate == b.learning_rate && a.eps == b.eps && a.beta1 == b.beta1 &&
         a.beta2 == b.beta2 && a.weight_decay == b.weight_decay && a.init_scale == b.init_scale &&
         a.seed == b.seed && a.num_shards == b.num_shards && a.routing == b.routing &&
         a.max_rows == b.max_rows && a.admit_after == b.admit_after && a.ttl_s == b.ttl_s;
}

const char* optimizer_name(Optimizer optimizer) {
  switch (optimizer) {
    case Optimizer::kSgd:
      return "sgd";
    case Optimizer::kRowwiseAdagrad:
      return "rowwise_adagrad";
    case Optimizer::kAdam:
      return "adam";
  }
  return "unknown";
}

Optimizer parse_optimizer(const std::string& name) {
  for (Optimizer o : {Optimizer::kSgd, Optimizer::kRowwiseAdagrad, Optimizer::kAdam}) {
    if (name == optimizer_name(o)) return o;
  }
  HYBREC_PS_REJECT(ErrorCode::kBadSpec, "unknown optimizer '", name,
                   "' (expected sgd, rowwise_adagrad or adam)");
}

std::string describe(const TableSpec& spec) {
  std::ostringstream out;
  out << spec.name << "(dim=" << spec.dim << ", " << optimizer_name(spec.optimizer)
      << ", lr=" << spec.learning_rate << ", eps=" << spec.eps;
  if (spec.optimizer == Optimizer::kAdam) {
    out << ", beta1=" << spec.beta1 << ", beta2=" << spec.beta2
        << ", weight_decay=" << spec.weight_decay;
  }
  out << ", init_scale=" << spec.init_scale << ", seed=" << spec.seed << ", " << spec.routing << "/"
      << spec.num_shards;
  if (spec.max_rows > 0) out << ", max_rows=" << spec.max_rows;
  if (spec.admit_after > 1) out << ", admit_after=" << spec.admit_after;
  if (spec.ttl_s > 0) out << ", ttl_s=" << spec.ttl_s;
  out << ")";
  return out.str();
}

}  // namespace hybrec::ps
