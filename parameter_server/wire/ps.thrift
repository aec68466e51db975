// The hybrec parameter server wire contract.
//
// Versioning: WIRE_VERSION changes whenever a change below alters the bytes
// on the wire in a way an older peer cannot read (a field's id or type, a
// method's arguments). Clients read it from health() when they connect and
// refuse a server that speaks another version. tests/ps/wire_golden_test.cc
// pins the exact bytes of every call, so an accidental change fails CI.
// Version 3 added PullMode WITH_STATE and push_delta: a version 2 server
// would refuse both only once training had begun (BAD_REQUEST for the mode,
// UNKNOWN_METHOD for the call), after a trainer's cache had taken updates
// that could then not be written back, so clients refuse it when they
// connect instead.
//
// Payloads: keys and rows are packed little-endian binary (int64 keys,
// float32 rows, row-major [n, dim]), never lists of numbers: a 65,536-key pull
// is one 16 MiB string instead of a million tagged list elements.
//
// Transport: framed, binary protocol (strict). Both ends set Thrift's
// TConfiguration frame and message limits to the server's --max-frame-mib.

namespace cpp hybrec.ps.wire

const i32 WIRE_VERSION = 3

enum ErrorCode {
  UNKNOWN_TABLE = 1,     // no table of that name on this shard
  DIM_MISMATCH = 2,      // rows/grads/deltas bytes do not match keys x width, or a spec conflicts
  LENGTH_MISMATCH = 3,   // keys not a multiple of 8 bytes
  NON_FINITE = 4,        // a NaN or infinity in grads or rows; the request changed nothing
  TOO_LARGE = 5,         // more keys in one request than the server accepts
  BAD_SPEC = 6,          // create_table with an invalid name, dim or hyperparameter
  TABLE_CONFLICT = 7,    // create_table of an existing name with a different spec
  CHECKPOINT = 8,        // save/load failed (missing, incomplete, mismatched dims/optimizer)
  NOT_CONFIGURED = 9,    // save/load on a server started without --checkpoint-dir
  INTERNAL = 10,
  BAD_REQUEST = 11,      // a field the handler reads is missing or out of range (named in the message)
  WRONG_SHARD = 12,      // a key this shard does not own under the table's routing; nothing was stored
  UNAUTHENTICATED = 13,  // a call before the connection proved the server's token, or a wrong proof
}

exception PsError {
  1: ErrorCode code,
  2: string message,
}

enum Optimizer {
  SGD = 1,               // w -= lr * g; no state
  ROWWISE_ADAGRAD = 2,   // one float of state per row
  ADAM = 3,              // m[dim], v[dim] and the row's own step count
}

struct TableSpec {
  1: string name,
  2: i32 dim,
  3: Optimizer optimizer,
  4: double learning_rate,
  5: double eps,
  6: double beta1,
  7: double beta2,
  8: double weight_decay,
  9: double init_scale,    // new rows are uniform in [-init_scale, init_scale]
  10: i64 seed,            // with the table name and key, fixes a new row's values
  // Where keys live: routing names the function ("jump": jump consistent
  // hash, the only one) and num_shards the count it spreads keys over. A
  // shard accepts only a spec whose num_shards is its own, and answers
  // WRONG_SHARD for a key the function sends elsewhere.
  11: i32 num_shards,
  12: string routing,
  // Bounds, per shard: at most max_rows rows (0: no cap; a request that would
  // insert past it is TOO_LARGE and inserts nothing). A key is stored from
  // its admit_after-th training pull on (0 or 1: at once); before that, pulls
  // answer its initial row and pushes and push_deltas to it are dropped
  // (Monolith's frequency filter). A row not pushed for ttl_s seconds is
  // evicted by the next sweep (0: never).
  13: i64 max_rows,
  14: i32 admit_after,
  15: double ttl_s,
}

struct Health {
  1: i32 wire_version,
  2: i32 shard_index,
  3: i32 num_shards,
  4: bool serving,
  // New at every start of the shard process: a client that sees it change
  // knows the shard restarted (and lost what it had not checkpointed).
  5: i64 incarnation,
}

// What every successful reply carries besides its result.
struct Ack {
  1: i64 incarnation,
}

struct PullReply {
  1: i64 incarnation,
  // n x dim little-endian float32, in key order; for a WITH_STATE pull
  // n x (dim + state floats): each row followed by its optimizer state.
  2: binary rows,
}

enum PullMode {
  TRAIN = 1,               // unknown keys are initialised and stored (subject to admission)
  READ_ONLY = 2,           // unknown keys answer their initial rows; nothing is stored
  // TRAIN, but each reply row is followed by the key's optimizer state (a
  // trainer caching rows applies the optimizer itself). State floats per
  // row: SGD 0, ROWWISE_ADAGRAD 1, ADAM 2 * dim + 1 (m, v, step). A key
  // answered with its unstored initial row (not admitted yet) has zero state.
  WITH_STATE = 3,
}

struct TableStats {
  1: TableSpec spec,
  2: i64 rows,
  3: i64 bytes,            // memory held by the table: arena plus index
}

struct ServerStats {
  1: i32 shard_index,
  2: i32 num_shards,
  3: list<TableStats> tables,
  4: i64 pull_requests,             // every mode, WITH_STATE included
  5: i64 push_requests,             // push and push_delta, applied (not retries)
  6: i64 keys_pulled,
  7: i64 keys_pushed,               // push and push_delta
  8: i64 rejected_requests,
  9: i64 last_checkpoint_version,   // -1: none written or loaded yet
  10: double uptime_s,
  11: i64 incarnation,
  12: i64 rows_evicted,             // by ttl_s sweeps
  13: i64 pushes_unadmitted,        // keys of pushes and push_deltas dropped by admit_after
}

service ParameterServer {
  // Every argument is required: a request missing one, or with one out of
  // range, is BAD_REQUEST naming the field, and changes nothing.

  // Idempotent: the same spec again is a no-op; another spec under an existing
  // name is TABLE_CONFLICT.
  Ack create_table(1: TableSpec spec) throws (1: PsError error),

  // keys: n little-endian int64, all owned by this shard. Returns n x dim
  // float32 rows in key order. TRAIN: a key seen for the first time is
  // initialised and stored; READ_ONLY (evaluation, serving) stores nothing;
  // WITH_STATE: as TRAIN, with each row's optimizer state after it.
  PullReply pull(1: string table, 2: binary keys, 3: PullMode mode) throws (1: PsError error),

  // grads: n x dim float32. The table's optimizer is applied once per key, in
  // request order. Any non-finite value rejects the whole request untouched.
  // client_id != 0 makes retries exactly-once: the shard remembers the
  // highest sequence it applied per client and acknowledges, without applying
  // again, a push whose sequence is not above it (a retry after a lost reply).
  // A client numbers its pushes to each shard 1, 2, 3, ... in the order it
  // sends them; client_id 0 turns this off. The ledger lives in memory: a
  // restarted shard (a new incarnation) has forgotten every sequence, and a
  // client must treat its unacknowledged pushes as lost.
  Ack push(1: string table, 2: binary keys, 3: binary grads, 4: i64 client_id,
           5: i64 sequence) throws (1: PsError error),

  // deltas: n x (dim + state floats) float32, each a row's change followed by
  // its optimizer state's (the layout of a WITH_STATE pull). Per key, in
  // request order, the shard adds them to the stored row and state, so the
  // updates of several trainers caching one row all count. Exactly as push
  // otherwise: a key not stored yet is first initialised as a TRAIN pull
  // would store it (zero state), then the delta added; on a table with
  // admit_after >= 2 a key not admitted yet is dropped and counted in
  // pushes_unadmitted; a request that would store rows past max_rows is
  // TOO_LARGE and changes nothing; any non-finite value rejects it whole.
  // client_id and sequence are push's, on the same ledger: a client numbers
  // its pushes and push_deltas to a shard together, 1, 2, 3, ...
  Ack push_delta(1: string table, 2: binary keys, 3: binary deltas, 4: i64 client_id,
                 5: i64 sequence) throws (1: PsError error),

  // Overwrites rows (n x dim float32) and resets their optimizer state: used
  // for loading pretrained embeddings.
  Ack assign(1: string table, 2: binary keys, 3: binary rows) throws (1: PsError error),

  // Snapshots go under the server's own --checkpoint-dir as
  // runs/<run>/v<version>/: a client never names a path, and runs sharing
  // servers never overwrite each other. run: 1-64 of [A-Za-z0-9_-].
  Ack save(1: string run, 2: i64 version) throws (1: PsError error),
  Ack load(1: string run, 2: i64 version) throws (1: PsError error),
  // Deletes this shard's snapshots of run other than the versions in keep
  // (retention: the trainer keeps its best and its last N).
  Ack prune(1: string run, 2: list<i64> keep) throws (1: PsError error),

  ServerStats stats() throws (1: PsError error),
  Health health(),

  // Token authentication (WIRE_VERSION 2), once per connection to a server
  // started with --auth-token-file; until it succeeds every call except
  // health and these two fails with UNAUTHENTICATED. The token never
  // travels: the client sends 32 random bytes, the server answers with its
  // own 32 random bytes followed by HMAC-SHA256(token, "hybrec-ps server\0" +
  // client_nonce + server_nonce); the client checks that proof and sends
  // HMAC-SHA256(token, "hybrec-ps client\0" + client_nonce + server_nonce).
  binary auth_begin(1: binary client_nonce) throws (1: PsError error),
  void auth_finish(1: binary client_proof) throws (1: PsError error),
}
