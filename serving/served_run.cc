#include "serving/served_run.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "hybrec/kernels/error.h"
#include "hybrec/kernels/splitmix.h"
#include "serving/request_vectors.h"
#include "trainer/loop/train_checkpoint.h"
#include "trainer/model/id_tables.h"

namespace hybrec::serving {

namespace fs = std::filesystem;

namespace {

std::string latest_of(const std::string& run_dir) {
  return trainer::latest_checkpoint((fs::path(run_dir) / "checkpoints").string());
}

// The users an index's recall is measured on: up to 200 of the dataset's
// users with events, drawn with a fixed seed so that every rebuild measures
// the same ones.
std::vector<int64_t> recall_sample(const Histories& histories, int64_t num_users) {
  constexpr std::size_t kUsers = 200;
  std::vector<int64_t> known;
  for (int64_t u = 0; u < num_users; ++u) {
    if (histories.known(u)) known.push_back(u);
  }
  uint64_t state = 0x1d3a5e7;
  const std::size_t take = std::min(kUsers, known.size());
  for (std::size_t i = 0; i < take; ++i) {  // a partial Fisher-Yates shuffle
    state = splitmix64(state);
    std::swap(known[i], known[i + state % (known.size() - i)]);
  }
  known.resize(take);
  return known;
}

}  // namespace

ServedRun::ServedRun(const ServeOptions& options)
    : options_(options), run_(trainer::load_trained_run(options.run, options.overrides)) {
  model_ = std::make_shared<const trainer::HybridModel>(run_.model);
  const trainer::ModelConfig& c = run_.model.config();
  if (c.use_id) {
    if (!options_.ps.empty()) {
      live_rows_ = std::make_unique<LiveRows>(options_.ps, options_.ps_client, c.dim);
      rows_ = live_rows_->fetcher();
    } else {
      snapshot_rows_ = std::make_shared<trainer::SnapshotRows>(run_.state.ps_dir, run_.state.ps_run,
                                                               run_.state.ps_version);
      rows_ = snapshot_rows_->fetcher();
    }
  }
  histories_ = std::make_unique<Histories>(run_.data);
  // Query text and new items' text, in the catalogue's text space.
  if (c.use_text) queries_ = std::make_unique<QueryEncoder>(run_.data, options_.text_model);
  new_items_ = std::make_unique<NewItems>(run_.data.num_items, c.use_text ? c.text_dim : 0);
  // The step being served: `latest` moving past it triggers a reload.
  loaded_step_ = latest_of(run_.run_dir);
  trainer::RowFetcher user_rows;
  if (c.use_id) {
    user_rows = [this](const std::string&, const int64_t* keys, int64_t n, float* out) {
      fetch_user_rows(keys, n, out);
    };
  }
  recommender_ = std::make_unique<Recommender>(build(run_.step_dir, run_.state.params),
                                               std::move(user_rows), *histories_, queries_.get());
  batcher_ = std::make_unique<RequestBatcher>(*recommender_, options_.max_batch,
                                              std::chrono::microseconds(options_.batch_wait_us));
  if (options_.explain_model != nullptr) {
    explain::ExplainOptions explaining;
    explaining.generation.threads = options_.explain_threads;
    explanations_ = std::make_unique<Explanations>(
        options_.explain_model, *histories_, [this](int64_t item) { return title(item); },
        explaining);
  }
  if (!options_.stream.empty()) {
    feed_ = std::make_unique<StreamFeed>(options_.stream, options_.stream_start_after, *histories_,
                                         *new_items_, queries_.get(), [this] {
                                           std::lock_guard<std::mutex> lock(mutex_);
                                           items_arrived_ = true;
                                         });
  }
  thread_ = std::thread([this] { rebuild_loop(); });
}

ServedRun::~ServedRun() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  feed_.reset();
}

std::vector<RecommendReply> ServedRun::recommend(
    const std::vector<RecommendRequest>& requests) const {
  bool explaining = false;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (!requests[i].explain) continue;
    explaining = true;
    if (explanations_ == nullptr) {
      throw BadRequest((requests.size() == 1 ? "" : "request " + std::to_string(i) + ": ") +
                           "explain needs a server started with --explain-model FILE.gguf; "
                           "this one has no language model",
                       __FILE__, __LINE__);
    }
  }
  std::vector<RecommendReply> replies =
      requests.size() == 1 ? std::vector<RecommendReply>{batcher_->recommend(requests[0])}
                           : recommender_->recommend(requests);
  if (!explaining) return replies;
  // The current version: the replies' items are in it (versions only add
  // items), and its model is the freshest.
  const std::shared_ptr<const ModelSnapshot> snapshot = recommender_->snapshot();
  for (std::size_t i = 0; i < requests.size(); ++i) {
    explanations_->explain(*snapshot, requests[i], &replies[i]);
  }
  return replies;
}

std::string ServedRun::title(int64_t item) const {
  if (item >= 0 && item < static_cast<int64_t>(run_.data.item_text.size())) {
    return run_.data.item_text[item];
  }
  return new_items_->text(item);
}

std::shared_ptr<const ModelSnapshot> ServedRun::build(const std::string& step_dir,
                                                      std::vector<float> params) {
  SnapshotInputs in;
  in.model = model_;
  in.params = std::move(params);
  const trainer::ModelConfig& c = model_->config();
  NewItems::Copy arrived = new_items_->copy();
  if (c.use_text) {
    in.text_emb = run_.data.item_text_emb;
    in.text_emb.insert(in.text_emb.end(), arrived.text_emb.begin(), arrived.text_emb.end());
  }
  in.base_items = run_.data.num_items;
  in.neighbor_cache = &neighbor_cache_;
  in.new_ids = std::move(arrived.ids);
  if (c.use_id) {
    in.item_rows = [this](const std::string& table, const int64_t* keys, int64_t n, float* out) {
      fetch_rows(table, keys, n, out);
    };
  }
  in.rows_from = live_rows_ != nullptr ? live_rows_->describe()
                                       : "the server snapshot of checkpoint " + step_dir;
  in.step_dir = step_dir;
  in.index = options_.index;
  if (in.index.kind != IndexKind::kExact) {
    in.recall_users = recall_sample(*histories_, run_.data.num_users);
    in.user_vectors = [this](const ModelSnapshot& s, const std::vector<int64_t>& users) {
      std::vector<RecommendRequest> requests(users.size());
      for (std::size_t i = 0; i < users.size(); ++i) {
        requests[i].user = users[i];
        requests[i].exclude_seen = false;
      }
      trainer::RowFetcher user_rows;
      if (model_->config().use_id) {
        user_rows = [this](const std::string& table, const int64_t* keys, int64_t n, float* out) {
          fetch_rows(table, keys, n, out);
        };
      }
      return request_vectors(s, requests, user_rows, *histories_, nullptr).users;
    };
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    in.version = next_version_++;
  }
  return build_model_snapshot(std::move(in));
}

void ServedRun::fetch_rows(const std::string& table, const int64_t* keys, int64_t n, float* out) {
  std::shared_ptr<trainer::SnapshotRows> keep_alive;
  trainer::RowFetcher fetch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    keep_alive = snapshot_rows_;
    fetch = rows_;
  }
  fetch(table, keys, n, out);
}

void ServedRun::fetch_user_rows(const int64_t* keys, int64_t n, float* out) {
  // Enough rows to cover the active users of a live service without
  // growing without bound (100k rows of dim 64: 25 MiB).
  constexpr std::size_t kMaxRemembered = 100000;
  const int64_t d = model_->config().dim;
  if (live_rows_ == nullptr) {
    fetch_rows(trainer::kUserTable, keys, n, out);
    return;
  }
  bool servers_down = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    servers_down = std::chrono::steady_clock::now() < servers_retry_at_;
  }
  try {
    if (servers_down) throw Error("servers down", __FILE__, __LINE__);
    fetch_rows(trainer::kUserTable, keys, n, out);
  } catch (const std::exception&) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!servers_down)
      servers_retry_at_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    for (int64_t i = 0; i < n; ++i) {
      const auto it = last_user_rows_.find(keys[i]);
      if (it != last_user_rows_.end()) {
        std::copy(it->second.begin(), it->second.end(), out + i * d);
      } else {
        std::fill(out + i * d, out + (i + 1) * d, 0.0f);
      }
    }
    stale_user_rows_ += n;
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (last_user_rows_.size() + static_cast<std::size_t>(n) > kMaxRemembered) {
    last_user_rows_.clear();
  }
  for (int64_t i = 0; i < n; ++i) last_user_rows_[keys[i]].assign(out + i * d, out + (i + 1) * d);
}

void ServedRun::rebuild() {
  std::lock_guard<std::mutex> one_at_a_time(rebuild_mutex_);
  try {
    const std::shared_ptr<const ModelSnapshot> current = recommender_->snapshot();
    std::string step_dir = current->step_dir;
    std::vector<float> params = current->params;
    const std::string latest = latest_of(run_.run_dir);
    bool moved = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      moved = !latest.empty() && latest != loaded_step_;
    }
    if (moved) {
      trainer::TrainerState state = trainer::read_trainer_checkpoint(latest);
      HYBREC_CHECK(static_cast<int64_t>(state.params.size()) == model_->num_params(), "checkpoint ",
                   latest, " holds ", state.params.size(),
                   " dense parameters; the served model has ", model_->num_params());
      if (snapshot_rows_ != nullptr) {
        auto rows =
            std::make_shared<trainer::SnapshotRows>(state.ps_dir, state.ps_run, state.ps_version);
        std::lock_guard<std::mutex> lock(mutex_);
        snapshot_rows_ = std::move(rows);
        rows_ = snapshot_rows_->fetcher();
      }
      step_dir = latest;
      params = std::move(state.params);
    }
    recommender_->swap(build(step_dir, std::move(params)));
    std::lock_guard<std::mutex> lock(mutex_);
    if (moved) loaded_step_ = latest;
    ++rebuilds_;
    last_error_.clear();
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++rebuild_failures_;
    last_error_ = e.what();
    throw;
  }
}

void ServedRun::rebuild_loop() {
  // Background rebuilds yield the cores to requests: on Linux a nice value
  // is per thread, and the threads this one starts (its OpenMP team)
  // inherit it. Under full load a rebuild then takes longer (the matrix
  // ages) instead of stalling answers. Best effort: a failure leaves the
  // thread at the process's priority.
  constexpr int kRebuildNice = 10;
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kRebuildNice);
  // A one-second tick (or the period, when shorter) notices `latest`
  // moving and new items; the period paces rebuilds from live rows.
  using seconds = std::chrono::duration<double>;
  const seconds tick(options_.refresh_s > 0 ? std::min(options_.refresh_s, 1.0) : 1.0);
  auto last = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, tick, [this] { return stopping_; });
    if (stopping_) break;
    const bool latest_moved = latest_of(run_.run_dir) != loaded_step_;
    const bool period_over =
        options_.refresh_s > 0 && live_rows_ != nullptr &&
        seconds(std::chrono::steady_clock::now() - last).count() >= options_.refresh_s;
    if (!items_arrived_ && !latest_moved && !period_over) continue;
    items_arrived_ = false;
    lock.unlock();
    try {
      rebuild();
    } catch (const std::exception& e) {
      std::cerr << "hybrec serve: item matrix rebuild failed (serving the previous one): "
                << e.what() << "\n";
    }
    last = std::chrono::steady_clock::now();
    lock.lock();
  }
}

ServeHealth ServedRun::health() const {
  const std::shared_ptr<const ModelSnapshot> s = recommender_->snapshot();
  ServeHealth h;
  h.snapshot_version = s->version;
  h.snapshot_age_s =
      std::chrono::duration<double>(std::chrono::system_clock::now() - s->built_at).count();
  h.rows_from = s->rows_from;
  h.step_dir = s->step_dir;
  h.num_items = s->num_items;
  h.index = s->index_report;
  h.streamed_events = histories_->streamed_events();
  h.ps_errors = live_rows_ != nullptr ? live_rows_->errors() : 0;
  h.new_items = new_items_->count();
  if (feed_ != nullptr) h.stream_error = feed_->error();
  std::lock_guard<std::mutex> lock(mutex_);
  h.rebuilds = rebuilds_;
  h.rebuild_failures = rebuild_failures_;
  h.last_error = last_error_;
  h.stale_user_rows = stale_user_rows_;
  return h;
}

}  // namespace hybrec::serving
