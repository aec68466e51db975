// What a parameter-server table is: name, row width, optimizer and its
// hyperparameters, and how new rows are initialised.
#pragma once

#include <cstdint>
#include <string>

namespace hybrec::ps {

enum class Optimizer { kSgd = 1, kRowwiseAdagrad = 2, kAdam = 3 };

// What a pull does with a key the shard has not stored (ps.thrift PullMode).
enum class PullMode {
  kTrain,     // initialise and store it (subject to admission and the row cap)
  kReadOnly,  // answer its initial row and store nothing (evaluation, serving)
};

// Lamping & Veach's jump consistent hash over num_shards (slicer.h).
inline constexpr const char* kJumpRouting = "jump";

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
  // Routing: the shard count the table's keys are spread over by `routing`
  // (kJumpRouting, the only function). A shard holds only a spec whose
  // num_shards is its own, and refuses keys routed elsewhere (WRONG_SHARD).
  int32_t num_shards = 1;
  std::string routing = kJumpRouting;
  // Bounds per shard: max_rows rows (0: no cap), rows stored from a key's
  // admit_after-th training pull on (0 or 1: at once), rows not pushed for
  // ttl_s seconds evicted (0: never). See ps.thrift.
  int64_t max_rows = 0;
  int32_t admit_after = 0;
  double ttl_s = 0;
};

// Largest row width a table may have; keeps one row well inside a frame.
inline constexpr int32_t kMaxDim = 65536;

// Floats of optimizer state stored next to each row: SGD 0, row-wise Adagrad
// 1 (the running mean of g^2), Adam 2 * dim + 1 (m, v and the row's own step
// count, so a row that is updated rarely gets its own bias correction).
int64_t state_floats(const TableSpec& spec);

// Throws RequestError(kBadSpec) naming the first invalid field.
void validate(const TableSpec& spec);

// Same table contract (every field equal). Routing and bounds included: a
// shard must never hold one table under two routings or two caps.
bool operator==(const TableSpec& a, const TableSpec& b);
inline bool operator!=(const TableSpec& a, const TableSpec& b) { return !(a == b); }

const char* optimizer_name(Optimizer optimizer);  // "sgd", "rowwise_adagrad", "adam"
// Throws RequestError(kBadSpec) for an unknown name.
Optimizer parse_optimizer(const std::string& name);

// One line for logs and error messages: "user(dim=64, rowwise_adagrad, lr=0.01, ...)".
std::string describe(const TableSpec& spec);

}  // namespace hybrec::ps
