#include "trainer/loop/sparse_tables.h"

namespace hybrec::trainer {
namespace {

ps::TableSpec table_spec(const std::string& name, const TrainConfig& config) {
  ps::TableSpec spec;
  spec.name = name;
  spec.dim = static_cast<int32_t>(config.model.dim);
  spec.optimizer = config.train.sparse_optimizer == SparseOptimizer::kAdam
                       ? ps::Optimizer::kAdam
                       : ps::Optimizer::kRowwiseAdagrad;
  spec.learning_rate = config.train.sparse_lr;
  spec.init_scale = config.train.sparse_init_scale;
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
    : client_(endpoints, client_options(config)),
      specs_{table_spec(kUserTable, config), table_spec(kItemTable, config)},
      dim_(config.model.dim) {}

void SparseTables::create_tables() {
  for (const auto& spec : specs_) client_.create_table(spec);
}

SparseTables::Pending SparseTables::pull(const Batch& batch, float* user_rows, float* item_rows) {
  Pending p;
  p.user = client_.pull(kUserTable, batch.user_ids.data(),
                        static_cast<int64_t>(batch.user_ids.size()), dim_, user_rows);
  p.item = client_.pull(kItemTable, batch.item_ids.data(),
                        static_cast<int64_t>(batch.item_ids.size()), dim_, item_rows);
  return p;
}

SparseTables::Pending SparseTables::push(const Batch& batch, const float* user_grads,
                                         const float* item_grads) {
  Pending p;
  p.user = client_.push(kUserTable, batch.user_ids.data(),
                        static_cast<int64_t>(batch.user_ids.size()), dim_, user_grads);
  p.item = client_.push(kItemTable, batch.item_ids.data(),
                        static_cast<int64_t>(batch.item_ids.size()), dim_, item_grads);
  return p;
}

void SparseTables::fetch(const std::string& table, const int64_t* keys, int64_t n, float* out) {
  client_.pull(table, keys, n, dim_, out, ps::PullMode::kReadOnly).wait();
}

}  // namespace hybrec::trainer
