// A trained run, served: its model, dataset and rows assembled into a
// Recommender, and the background rebuild that keeps the item matrix fresh.
//
// Freshness: user rows are pulled per request. The item matrix (every item's
// v_j) is rebuilt every refresh period from the live servers, and whenever
// the run's checkpoints/latest moves (an online trainer wrote new dense
// parameters); the new version is swapped in whole, so no request waits for
// a rebuild or sees half of one. When the servers are down the rebuild
// fails, the last matrix keeps serving, and health() says how old it is.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "parameter_server/client/client.h"
#include "serving/explanations.h"
#include "serving/histories.h"
#include "serving/query_encoder.h"
#include "serving/recommender.h"
#include "serving/request_batcher.h"
#include "serving/row_sources.h"
#include "serving/stream_feed.h"
#include "serving/new_items.h"
#include "trainer/llm/text_generator.h"
#include "trainer/pipelines/trained_run.h"

namespace hybrec::serving {

// Serving fails fast: a request must not wait seconds on a server that is
// down (the user rows then come from the last pull, see fetch_user_rows).
inline ps::ClientOptions serving_client_defaults() {
  ps::ClientOptions o;
  o.connect_timeout_ms = 500;
  o.io_timeout_ms = 5000;
  o.max_attempts = 2;
  o.backoff_initial_ms = 20;
  return o;
}

struct ServeOptions {
  std::string run;                      // a run or checkpoint step directory
  std::vector<ps::Endpoint> ps;         // empty: rows from the checkpoint's snapshot files
  ps::ClientOptions ps_client = serving_client_defaults();
  std::string text_model;               // BERT model dir for query text (see query_encoder.h)
  double refresh_s = 10.0;              // rebuild period; 0 = only when latest moves
                                        // or new items arrived
  std::string stream;                   // "": no live events; else the source URL
  uint64_t stream_start_after = 0;      // the feed reads the events after this position
  int64_t max_batch = 64;               // single requests scored together (request_batcher.h)
  int64_t batch_wait_us = 200;          // how long a single request waits for company
  std::vector<std::string> overrides;   // "section.key=value" on the run's config
  // How requests find their top k (`hybrec serve --index exact|faiss-ivf`,
  // and its nprobe): exact scoring by default; with IndexKind::kFaissIvf
  // every item matrix is built with an IVF index over it (nlist about
  // 4 sqrt(items), see serving/candidates.h), whose recall@10 against exact
  // scoring on 200 random users is printed on stderr and kept for /health.
  // The index's k-means runs at every rebuild: on a large catalogue, a
  // refresh_s of a few minutes.
  IndexOptions index;
  // The language model of RecommendRequest::explain (`hybrec serve
  // --explain-model`); null: explain=true is a BadRequest saying so.
  std::shared_ptr<const llm::TextGenerator> explain_model;
  int explain_threads = 1;  // OpenMP threads of each explanation's decode
};

struct ServeHealth {
  int64_t snapshot_version = 0;
  double snapshot_age_s = 0;     // since the matrix in use was built
  std::string rows_from;
  std::string step_dir;
  int64_t num_items = 0;
  int64_t rebuilds = 0, rebuild_failures = 0;
  std::string last_error;        // of the last failed rebuild ("" = it succeeded)
  int64_t ps_errors = 0;         // failed pulls (rebuilds and user rows)
  int64_t stale_user_rows = 0;   // user rows answered from the last pull (servers down)
  int64_t streamed_events = 0;
  int64_t new_items = 0;         // arrived on the stream (in the matrix or waiting for it)
  std::string stream_error;      // "" while the stream reads fine (or there is none)
  IndexReport index;             // of the matrix in use
};

class ServedRun {
 public:
  // Loads the run, builds the first item matrix (throws naming what failed:
  // the checkpoint, the servers, the text model) and starts the rebuilds.
  explicit ServedRun(const ServeOptions& options);
  ~ServedRun();  // stops the rebuild thread

  const Recommender& recommender() const { return *recommender_; }
  // What the interfaces call: a single request joins a micro-batch with the
  // concurrent ones (RequestBatcher); a batch is scored as it is. Then the
  // explaining requests' top results are explained on the caller's thread
  // (serving/explanations.h); without a language model such a request is a
  // BadRequest before anything is scored.
  std::vector<RecommendReply> recommend(const std::vector<RecommendRequest>& requests) const;
  Histories& histories() { return *histories_; }
  const trainer::Dataset& data() const { return run_.data; }
  // The item's text for display ("" when it has none).
  std::string title(int64_t item) const;
  ServeHealth health() const;
  // One rebuild now, on the caller's thread (tests, benchmarks); throws when
  // it fails (the old matrix stays).
  void rebuild();

 private:
  std::shared_ptr<const ModelSnapshot> build(const std::string& step_dir, std::vector<float> params);
  void rebuild_loop();
  // Reads rows from whichever source is current (thread-safe).
  void fetch_rows(const std::string& table, const int64_t* keys, int64_t n, float* out);
  // User rows for a request: pulled fresh; when the servers cannot be
  // reached, the row this process last pulled for the user (zero if none),
  // so requests are still answered while the servers are down.
  void fetch_user_rows(const int64_t* keys, int64_t n, float* out);

  ServeOptions options_;
  trainer::TrainedRun run_;
  std::shared_ptr<const trainer::HybridModel> model_;
  // Rows of the checkpoint being served (no live servers); replaced when
  // `latest` moves, kept alive by the fetches still using the old one.
  std::shared_ptr<trainer::SnapshotRows> snapshot_rows_;
  std::unique_ptr<LiveRows> live_rows_;
  // Text-neighbour lists reused across rebuilds (trainer/model/neighbor_rows.h).
  trainer::TextNeighborCache neighbor_cache_;
  trainer::RowFetcher rows_;  // guarded by mutex_
  std::unique_ptr<Histories> histories_;
  std::unique_ptr<QueryEncoder> queries_;
  std::unique_ptr<NewItems> new_items_;
  std::unique_ptr<Recommender> recommender_;
  std::unique_ptr<RequestBatcher> batcher_;
  std::unique_ptr<Explanations> explanations_;  // null without options.explain_model
  std::unique_ptr<StreamFeed> feed_;  // after everything it writes into

  mutable std::mutex mutex_;  // guards rows_, snapshot_rows_, the counters, last_error_,
                             // loaded_step_, next_version_
  std::condition_variable wake_;
  bool stopping_ = false;
  int64_t next_version_ = 1;
  int64_t rebuilds_ = 0, rebuild_failures_ = 0;
  std::string last_error_;
  std::string loaded_step_;
  std::unordered_map<int64_t, std::vector<float>> last_user_rows_;  // bounded, see fetch_user_rows
  int64_t stale_user_rows_ = 0;
  // After a failed user-row pull, requests use the remembered rows without
  // trying the servers until then (one slow failure, not one per request).
  std::chrono::steady_clock::time_point servers_retry_at_{};
  bool items_arrived_ = false;  // new items wait for a rebuild
  std::mutex rebuild_mutex_;  // one rebuild at a time
  std::thread thread_;
};

}  // namespace hybrec::serving
