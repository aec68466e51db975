// Client of a sharded parameter server.
//
// Routing: each key goes to slicer.shard_of(key) (jump consistent hash by
// default; pass another Slicer to change it). Each request is deduplicated
// (a key given twice is pulled once; its gradients are summed before they
// are sent), split per shard, and the per-shard requests are in flight at
// the same time, one persistent connection per shard. Results come back in
// the caller's key order.
//
// Asynchrony: pull() and push() return at once with a Request handle; wait()
// blocks until every shard answered and rethrows the first failure. Requests
// to one shard run in the order they were issued on this client, so a pull
// issued after a push sees that push. The caller's buffers (keys, grads,
// out) must stay alive and untouched until wait() returns; the handle's
// destructor waits too.
//
// Restarts: every shard reports an incarnation id, new at each start of its
// process, in health and in every reply. The client remembers the first it
// sees per shard; a different one later (after a reconnect, or in a reply)
// means the shard restarted and lost whatever it had not checkpointed, and
// the pending call throws ShardRestartedError instead of carrying on against
// older rows. accept_restarts() adopts the new incarnations, for a caller
// that has rewound (loaded one snapshot on every shard).
//
// Authentication: with options.tls each connection is mutual TLS (the
// client checks the server's certificate against the CA and the host it
// dials, and shows its own); with options.auth_token_file each connection
// proves, once, that both ends hold the token (ps.thrift auth_begin). A
// failed TLS handshake or a wrong token is not retried: wait() throws
// hybrec::Error saying which (bad certificate, wrong token, server wants a
// token).
//
// Failures: a transport failure (connection refused or reset, timeout) closes
// the connection and retries with exponential backoff up to max_attempts;
// then wait() throws hybrec::Error naming the shard and its address. A typed
// server error (PsError: unknown table, dim mismatch, ...) is not retried:
// it is rethrown as RequestError with the server's code and message. Pushes
// are exactly-once across retries: each carries this client's random id and
// a per-shard sequence number, and a shard acknowledges without applying a
// push it has already applied (a retry after a lost reply). push_delta is
// numbered with the pushes to the same shard and is exactly-once the same way.
//
// A PsClient is used from one thread at a time; give each trainer thread its
// own client.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"
#include "parameter_server/wire/endpoint.h"
#include "parameter_server/wire/slicer.h"
#include "parameter_server/wire/table_spec.h"
#include "parameter_server/wire/tls.h"

namespace hybrec::ps {

struct ClientOptions {
  int connect_timeout_ms = 2000;
  int io_timeout_ms = 60000;    // send/receive timeout of one call
  int max_attempts = 5;         // tries per shard call, transport failures only
  int backoff_initial_ms = 50;  // doubled after each failed try
  int backoff_max_ms = 2000;
  int64_t max_frame_bytes = 256LL << 20;  // must not exceed the servers' --max-frame-mib
  // Authentication, matching how the servers were started (README "The
  // parameter server"): all three TLS files for servers with --tls-*, the
  // servers' token file for servers with --auth-token-file. PsClient's
  // constructor loads them and throws naming a file it cannot use.
  TlsFiles tls;
  std::string auth_token_file;
};

// A shard answered with another incarnation than the one this client first
// met: it restarted.
class ShardRestartedError : public Error {
 public:
  ShardRestartedError(int shard, int64_t before, int64_t after, const std::string& message,
                      const char* file, int line)
      : Error(message, file, line), shard_(shard), before_(before), after_(after) {}
  int shard() const { return shard_; }
  int64_t before() const { return before_; }
  int64_t after() const { return after_; }

 private:
  int shard_;
  int64_t before_, after_;
};

struct ShardHealth {
  Endpoint endpoint;
  bool reachable = false;
  int wire_version = 0;
  int shard_index = -1;
  int num_shards = 0;
  int64_t incarnation = 0;
  std::string error;  // why it is unreachable
};

class PsClient {
 public:
  class Request;

  // Connects lazily: nothing is opened until the first call. Endpoint i must
  // be the server started as shard i of endpoints.size(); the first call to
  // each shard checks this and the wire version through health().
  explicit PsClient(std::vector<Endpoint> endpoints, ClientOptions options = {},
                    std::unique_ptr<Slicer> slicer = nullptr);
  ~PsClient();
  PsClient(const PsClient&) = delete;
  PsClient& operator=(const PsClient&) = delete;

  int num_shards() const;
  const Slicer& slicer() const;

  // Creates the table on every shard (idempotent); blocks.
  void create_table(const TableSpec& spec);

  // Rows of keys[0..n) into out [n, dim]. kReadOnly stores nothing on the
  // shards (evaluation, serving): unknown keys come back as initial rows.
  Request pull(const std::string& table, const int64_t* keys, int64_t n, int64_t dim, float* out,
               PullMode mode = PullMode::kTrain);
  // Gradients grads [n, dim] for keys[0..n).
  Request push(const std::string& table, const int64_t* keys, int64_t n, int64_t dim,
               const float* grads);

  // For a trainer that caches rows and applies the optimizer itself: the row
  // and optimizer state of keys[0..n) into out [n, width], each key's row
  // (dim floats) followed by its state (state_floats(spec): SGD 0, row-wise
  // Adagrad 1, Adam m[dim], v[dim], step). width must be dim +
  // state_floats(spec) of the table on the servers; wait() throws
  // RequestError(kDimMismatch) naming both widths otherwise. Unknown keys
  // are initialised and stored as by a kTrain pull (admission included); a
  // key not admitted yet comes back as its initial row with zero state.
  Request pull_with_state(const std::string& table, const int64_t* keys, int64_t n, int64_t width,
                          float* out);
  // Adds deltas [n, width] (the layout of pull_with_state) to the rows and
  // optimizer states of keys[0..n): the servers add, so the deltas of
  // several trainers caching one row all count. A key given twice has its
  // deltas summed. A key the servers have not stored is first initialised
  // as a kTrain pull would, then its delta added; on a table with
  // admit_after >= 2 the delta of a key not admitted yet is dropped, as
  // push drops its gradient. Exactly-once across retries, numbered with
  // push. A width that is not the table's is RequestError(kDimMismatch), a
  // non-finite delta RequestError(kNonFinite), and changes nothing.
  Request push_delta(const std::string& table, const int64_t* keys, int64_t n, int64_t width,
                     const float* deltas);
  // Overwrites rows [n, dim] and resets their optimizer state.
  Request assign(const std::string& table, const int64_t* keys, int64_t n, int64_t dim,
                 const float* rows);

  // Every shard, concurrently; blocks. Snapshots are kept per run id
  // (runs/<run>/v<version> under each shard's --checkpoint-dir).
  void save(const std::string& run, int64_t version);
  void load(const std::string& run, int64_t version);
  // Deletes every snapshot of run but the versions in keep.
  void prune(const std::string& run, const std::vector<int64_t>& keep);
  // Forgets the incarnations seen so far: the next reply of each shard sets
  // them anew. For a caller that has loaded one snapshot on every shard
  // after a ShardRestartedError.
  void accept_restarts();
  // Never throws: an unreachable shard is reported in its entry.
  std::vector<ShardHealth> health();
  // One human-readable block per shard (tables, rows, bytes, counters).
  std::vector<std::string> stats();

  // Handle of an asynchronous request.
  class Request {
   public:
    Request();
    ~Request();  // waits
    Request(Request&&) noexcept;
    Request& operator=(Request&&) noexcept;
    void wait();
    bool ready() const;

    struct State;

   private:
    friend class PsClient;
    explicit Request(std::shared_ptr<State> state);
    std::shared_ptr<State> state_;
  };

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hybrec::ps
