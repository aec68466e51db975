#include "trainer/loop/sparse_tables.h"

#include <algorithm>
#include <exception>

namespace hybrec::trainer {
namespace {

ps::TableSpec table_spec(const std::string& name, const TrainConfig& config) {
  // unseen_items zero / learned: an item row that training has not moved
  // stays exactly zero, which is how evaluation and serving tell it.
  const bool zero_items = name == kItemTable && config.model.unseen_items != UnseenItems::kNoise;
  ps::TableSpec spec;
  spec.name = name;
  spec.dim = static_cast<int32_t>(config.model.dim);
  spec.optimizer = config.train.sparse_optimizer == SparseOptimizer::kAdam
                       ? ps::Optimizer::kAdam
                       : ps::Optimizer::kRowwiseAdagrad;
  spec.learning_rate = config.train.sparse_lr;
  spec.init_scale = zero_items ? 0.0 : config.train.sparse_init_scale;
  spec.seed = config.train.seed;
  spec.max_rows = config.ps.max_rows;
  spec.admit_after = static_cast<int32_t>(config.ps.admit_after);
  spec.ttl_s = config.ps.ttl_s;
  return spec;
}

ps::ClientOptions client_options(const TrainConfig& config) {
  ps::ClientOptions options;
  options.max_frame_bytes = config.ps.max_frame_mib << 20;
  options.max_attempts = static_cast<int>(config.ps.retry_attempts);
  options.tls = ps::TlsFiles{config.ps.tls_cert, config.ps.tls_key, config.ps.tls_ca};
  options.auth_token_file = config.ps.auth_token_file;
  return options;
}

}  // namespace

SparseTables::SparseTables(const std::vector<ps::Endpoint>& endpoints, const TrainConfig& config)
    : endpoints_(endpoints),
      client_(endpoints, client_options(config)),
      specs_{table_spec(kUserTable, config), table_spec(kItemTable, config)},
      dim_(config.model.dim) {}

void SparseTables::create_tables() {
  for (const auto& spec : specs_) client_.create_table(spec);
}

template <typename Call>
bool SparseTables::guarded(Call&& call) {
  try {
    call();
    return true;
  } catch (const ps::ShardRestartedError& e) {
    if (policy_ != RestartPolicy::kRecord) throw;
    record(e);
    return false;
  }
}

void SparseTables::record(const ps::ShardRestartedError& error) {
  if (restarted_.empty()) restart_message_ = error.what();
  if (std::find(restarted_.begin(), restarted_.end(), error.shard()) == restarted_.end()) {
    restarted_.insert(std::upper_bound(restarted_.begin(), restarted_.end(), error.shard()),
                      error.shard());
  }
}

void SparseTables::Pending::wait() {
  std::exception_ptr failure;
  for (ps::PsClient::Request* request : {&user, &item}) {
    try {
      if (tables != nullptr) {
        tables->guarded([&] { request->wait(); });
      } else {
        request->wait();
      }
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

std::string SparseTables::describe_shard(int shard) const {
  return "shard " + std::to_string(shard) + " at " + endpoints_.at(shard).to_string();
}

void SparseTables::accept_restarts() {
  client_.accept_restarts();
  restarted_.clear();
  restart_message_.clear();
}

SparseTables::Pending SparseTables::pull(const Batch& batch, float* user_rows, float* item_rows) {
  Pending p;
  p.tables = this;
  p.user = client_.pull(kUserTable, batch.user_ids.data(),
                        static_cast<int64_t>(batch.user_ids.size()), dim_, user_rows);
  p.item = client_.pull(kItemTable, batch.item_ids.data(),
                        static_cast<int64_t>(batch.item_ids.size()), dim_, item_rows);
  return p;
}

SparseTables::Pending SparseTables::push(const Batch& batch, const float* user_grads,
                                         const float* item_grads) {
  Pending p;
  p.tables = this;
  p.user = client_.push(kUserTable, batch.user_ids.data(),
                        static_cast<int64_t>(batch.user_ids.size()), dim_, user_grads);
  p.item = client_.push(kItemTable, batch.item_ids.data(),
                        static_cast<int64_t>(batch.item_ids.size()), dim_, item_grads);
  return p;
}

const ps::TableSpec& SparseTables::spec(const std::string& table) const {
  const auto it = std::find_if(specs_.begin(), specs_.end(),
                               [&](const ps::TableSpec& s) { return s.name == table; });
  HYBREC_CHECK(it != specs_.end(), "SparseTables: no table '", table, "'");
  return *it;
}

int64_t SparseTables::width(const std::string& table) const {
  return dim_ + ps::state_floats(spec(table));
}

SparseTables::Pending SparseTables::pull_with_state(const std::vector<int64_t>& user_keys,
                                                    float* user_rows,
                                                    const std::vector<int64_t>& item_keys,
                                                    float* item_rows) {
  Pending p;
  p.tables = this;
  p.user =
      client_.pull_with_state(kUserTable, user_keys.data(), static_cast<int64_t>(user_keys.size()),
                              width(kUserTable), user_rows);
  p.item =
      client_.pull_with_state(kItemTable, item_keys.data(), static_cast<int64_t>(item_keys.size()),
                              width(kItemTable), item_rows);
  return p;
}

SparseTables::Pending SparseTables::push(const std::vector<int64_t>& user_keys,
                                         const float* user_grads,
                                         const std::vector<int64_t>& item_keys,
                                         const float* item_grads) {
  Pending p;
  p.tables = this;
  p.user = client_.push(kUserTable, user_keys.data(), static_cast<int64_t>(user_keys.size()), dim_,
                        user_grads);
  p.item = client_.push(kItemTable, item_keys.data(), static_cast<int64_t>(item_keys.size()), dim_,
                        item_grads);
  return p;
}

void SparseTables::pull_with_state(const std::string& table, const int64_t* keys, int64_t n,
                                   float* out) {
  const int64_t w = width(table);
  if (!guarded([&] { client_.pull_with_state(table, keys, n, w, out).wait(); })) {
    std::fill(out, out + n * w, 0.0f);
  }
}

void SparseTables::push_delta(const std::string& table, const int64_t* keys, int64_t n,
                              const float* deltas) {
  guarded([&] { client_.push_delta(table, keys, n, width(table), deltas).wait(); });
}

void SparseTables::fetch(const std::string& table, const int64_t* keys, int64_t n, float* out) {
  if (!guarded([&] { client_.pull(table, keys, n, dim_, out, ps::PullMode::kReadOnly).wait(); })) {
    std::fill(out, out + n * dim_, 0.0f);
  }
}

void SparseTables::save(const std::string& run, int64_t version) {
  guarded([&] { client_.save(run, version); });
}

void SparseTables::prune(const std::string& run, const std::vector<int64_t>& keep) {
  guarded([&] { client_.prune(run, keep); });
}

}  // namespace hybrec::trainer
