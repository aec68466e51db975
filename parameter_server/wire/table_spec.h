// What a parameter-server table is: name, row width, optimizer and its
// hyperparameters, and how new rows are initialised.
#pragma once

#include <cstdint>
#include <string>

namespace hybrec::ps {

enum class Optimizer { kSgd = 1, kRowwiseAdagrad = 2, kAdam = 3 };

struct TableSpec {
  std::string name;
  int32_t dim = 0;
  Optimizer optimizer = Optimizer::kRowwiseAdagrad;
  double learning_rate = 0.01;
  double eps = 1e-8;
  double beta1 = 0.9;         // Adam only
  double beta2 = 0.999;       // Adam only
  double weight_decay = 0.0;  // Adam only (decoupled)
  double init_scale = 0.01;   // new rows are uniform in [-init_scale, init_scale]
  int64_t seed = 0;
};

// Largest row width a table may have; keeps one row well inside a frame.
inline constexpr int32_t kMaxDim = 65536;

// Floats of optimizer state stored next to each row: SGD 0, row-wise Adagrad
// 1 (the running mean of g^2), Adam 2 * dim + 1 (m, v and the row's own step
// count, so a row that is updated rarely gets its own bias correction).
int64_t state_floats(const TableSpec& spec);

// Throws RequestError(kBadSpec) naming the first invalid field.
void validate(const TableSpec& spec);

// Same table contract (every field equal).
bool operator==(const TableSpec& a, const TableSpec& b);
inline bool operator!=(const TableSpec& a, const TableSpec& b) { return !(a == b); }

const char* optimizer_name(Optimizer optimizer);  // "sgd", "rowwise_adagrad", "adam"
// Throws RequestError(kBadSpec) for an unknown name.
Optimizer parse_optimizer(const std::string& name);

// One line for logs and error messages: "user(dim=64, rowwise_adagrad, lr=0.01, ...)".
std::string describe(const TableSpec& spec);

}  // namespace hybrec::ps
