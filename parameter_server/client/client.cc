#include "parameter_server/client/client.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <sstream>

#include "parameter_server/client/shard_channel.h"
#include "parameter_server/wire/auth_token.h"
#include "parameter_server/wire/errors.h"
#include "parameter_server/wire/huge_pages.h"
#include "parameter_server/wire/key_groups.h"
#include "parameter_server/wire/payload.h"
#include "parameter_server/wire/wire_convert.h"

namespace hybrec::ps {

// ---- Request handles

struct PsClient::Request::State {
  std::mutex mutex;
  std::condition_variable done_cv;
  int pending = 0;
  std::exception_ptr error;
  // Buffers the per-shard tasks share; kept alive until the last one ends.
  KeyGroups groups;
  std::vector<std::vector<int64_t>> shard_uniques;  // [shard] indices into groups.first

  void finish_one(std::exception_ptr failure) {
    std::lock_guard<std::mutex> lock(mutex);
    if (failure && !error) error = failure;
    if (--pending == 0) done_cv.notify_all();
  }
};

PsClient::Request::Request() = default;
PsClient::Request::Request(std::shared_ptr<State> state) : state_(std::move(state)) {}
PsClient::Request::Request(Request&&) noexcept = default;
PsClient::Request& PsClient::Request::operator=(Request&& other) noexcept {
  if (this != &other) {
    if (state_) {
      std::unique_lock<std::mutex> lock(state_->mutex);
      state_->done_cv.wait(lock, [&] { return state_->pending == 0; });
    }
    state_ = std::move(other.state_);
  }
  return *this;
}
PsClient::Request::~Request() {
  if (!state_) return;
  std::unique_lock<std::mutex> lock(state_->mutex);
  state_->done_cv.wait(lock, [&] { return state_->pending == 0; });
}

void PsClient::Request::wait() {
  if (!state_) return;
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(state_->mutex);
    state_->done_cv.wait(lock, [&] { return state_->pending == 0; });
    error = state_->error;
  }
  state_.reset();
  if (error) std::rethrow_exception(error);
}

bool PsClient::Request::ready() const {
  if (!state_) return true;
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->pending == 0;
}

struct PsClient::Impl {
  ClientOptions options;
  std::unique_ptr<Slicer> slicer;
  std::vector<std::unique_ptr<ShardChannel>> shards;

  // Runs fn(shard index, channel) on every listed shard's thread; the handle
  // completes when all have.
  Request fan_out(std::shared_ptr<Request::State> state, const std::vector<int>& targets,
                  std::function<void(int, ShardChannel&)> fn) {
    state->pending = static_cast<int>(targets.size());
    if (targets.empty()) return Request(state);
    auto shared_fn = std::make_shared<std::function<void(int, ShardChannel&)>>(std::move(fn));
    for (int s : targets) {
      ShardChannel& channel = *shards[s];
      channel.submit([state, shared_fn, s, &channel] {
        std::exception_ptr failure;
        try {
          (*shared_fn)(s, channel);
        } catch (...) {
          failure = std::current_exception();
        }
        state->finish_one(failure);
      });
    }
    return Request(state);
  }

  // The same acknowledged call on every shard at once; blocks.
  void on_every_shard(const char* what,
                      const std::function<void(wire::ParameterServerClient&, wire::Ack&)>& call) {
    fan_out(std::make_shared<Request::State>(), all_shards(), [=](int, ShardChannel& c) {
      c.call(what, [&](wire::ParameterServerClient& client) {
        wire::Ack ack;
        call(client, ack);
        c.expect(ack);
      });
    }).wait();
  }

  std::vector<int> all_shards() const {
    std::vector<int> out(shards.size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int>(i);
    return out;
  }

  // Groups keys and splits the distinct ones by owning shard.
  std::shared_ptr<Request::State> route(const int64_t* keys, int64_t n, std::vector<int>* targets) {
    auto state = std::make_shared<Request::State>();
    state->groups = group_keys(keys, n);
    state->shard_uniques.resize(shards.size());
    const auto& first = state->groups.first;
    for (size_t u = 0; u < first.size(); ++u) {
      state->shard_uniques[slicer->shard_of(keys[first[u]])].push_back(static_cast<int64_t>(u));
    }
    for (size_t s = 0; s < shards.size(); ++s) {
      if (!state->shard_uniques[s].empty()) targets->push_back(static_cast<int>(s));
    }
    return state;
  }

  static std::string shard_keys(const Request::State& state, int s, const int64_t* keys) {
    const auto& uniques = state.shard_uniques[s];
    std::string out(uniques.size() * sizeof(int64_t), '\0');
    auto* k = reinterpret_cast<int64_t*>(out.data());
    for (size_t j = 0; j < uniques.size(); ++j) k[j] = keys[state.groups.first[uniques[j]]];
    return out;
  }

  // Copies shard s's reply rows [distinct keys, width] to every position of
  // the caller's out [n, width] that holds each key. Byte copies: the frame
  // buffer gives no float alignment guarantee.
  static void scatter_rows(const Request::State& state, int s, const char* rows, int64_t width,
                           float* out) {
    const auto& uniques = state.shard_uniques[s];
    const auto& groups = state.groups;
    const size_t row_bytes = sizeof(float) * width;
    for (size_t j = 0; j < uniques.size(); ++j) {
      const char* row = rows + j * row_bytes;
      for (int64_t p = groups.first[uniques[j]]; p >= 0; p = groups.next[p]) {
        std::memcpy(out + p * width, row, row_bytes);
      }
    }
  }

  // push or push_delta of values [n, width], each distinct key's summed
  // over its repeats.
  Request push_rows(PushKind kind, const std::string& table, const int64_t* keys, int64_t n,
                    int64_t width, const float* values) {
    std::vector<int> targets;
    auto state = route(keys, n, &targets);
    Request::State* raw = state.get();
    const char* what = kind == PushKind::kGrads ? "push" : "push_delta";
    return fan_out(std::move(state), targets, [=](int s, ShardChannel& c) {
      const std::string shard_keys = Impl::shard_keys(*raw, s, keys);
      const uint64_t bytes = raw->shard_uniques[s].size() * width * sizeof(float);
      HYBREC_CHECK(bytes <= static_cast<uint64_t>(INT32_MAX), what, " to shard ", s, " of ", bytes,
                   " bytes exceeds a Thrift string (2 GiB); split the request");
      c.push(kind, table, shard_keys, static_cast<uint32_t>(bytes),
             [&](at::transport::TFramedTransport& out) {
               Impl::write_shard_rows(*raw, s, values, width, out);
             });
    });
  }

  // Writes the rows of shard s's distinct keys, each summed over its
  // repeats, to the request frame.
  static void write_shard_rows(const Request::State& state, int s, const float* values, int64_t dim,
                               at::transport::TFramedTransport& out) {
    const auto& uniques = state.shard_uniques[s];
    const auto& groups = state.groups;
    const uint32_t row_bytes = static_cast<uint32_t>(dim * sizeof(float));
    std::vector<float> sum;
    for (size_t j = 0; j < uniques.size(); ++j) {
      const int64_t pos = groups.first[uniques[j]];
      const float* row = values + pos * dim;
      if (groups.next[pos] >= 0) {
        sum.assign(row, row + dim);
        for (int64_t p = groups.next[pos]; p >= 0; p = groups.next[p]) {
          for (int64_t c = 0; c < dim; ++c) sum[c] += values[p * dim + c];
        }
        row = sum.data();
      }
      out.write(reinterpret_cast<const uint8_t*>(row), row_bytes);
    }
  }
};

PsClient::PsClient(std::vector<Endpoint> endpoints, ClientOptions options,
                   std::unique_ptr<Slicer> slicer)
    : impl_(std::make_unique<Impl>()) {
  silence_thrift_output();
  reuse_large_allocations();
  HYBREC_CHECK(!endpoints.empty(), "a parameter-server client needs at least one shard address");
  HYBREC_CHECK(options.max_attempts >= 1, "max_attempts must be at least 1, got ",
               options.max_attempts);
  const int n = static_cast<int>(endpoints.size());
  impl_->options = options;
  impl_->slicer = slicer ? std::move(slicer) : make_default_slicer(n);
  HYBREC_CHECK(impl_->slicer->num_shards() == n, "the slicer routes to ",
               impl_->slicer->num_shards(), " shards but ", n, " addresses were given");
  // A random nonzero id names this client's pushes to the shards'
  // exactly-once ledgers (ps.thrift, push).
  std::random_device entropy;
  int64_t client_id = 0;
  while (client_id == 0) {
    client_id = static_cast<int64_t>(
        (static_cast<uint64_t>(entropy()) << 32) ^ entropy() ^
        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  }
  // Credentials are loaded once, here, so a bad file fails at once.
  std::shared_ptr<at::transport::TSSLSocketFactory> tls;
  if (options.tls.enabled()) tls = make_tls_factory(options.tls, false);
  const std::string token =
      options.auth_token_file.empty() ? std::string() : read_token_file(options.auth_token_file);
  for (int i = 0; i < n; ++i) {
    impl_->shards.push_back(
        std::make_unique<ShardChannel>(i, n, endpoints[i], options, client_id, tls, token));
  }
}

PsClient::~PsClient() = default;

int PsClient::num_shards() const { return static_cast<int>(impl_->shards.size()); }
const Slicer& PsClient::slicer() const { return *impl_->slicer; }

void PsClient::create_table(const TableSpec& spec) {
  // The routing is this client's: every shard checks it is its own.
  TableSpec routed = spec;
  routed.num_shards = num_shards();
  routed.routing = kJumpRouting;
  validate(routed);
  const wire::TableSpec w = to_wire(routed);
  impl_->on_every_shard("create_table", [w](wire::ParameterServerClient& client, wire::Ack& ack) {
    client.create_table(ack, w);
  });
}

PsClient::Request PsClient::pull(const std::string& table, const int64_t* keys, int64_t n,
                                 int64_t dim, float* out, PullMode mode) {
  const wire::PullMode::type wire_mode =
      mode == PullMode::kReadOnly ? wire::PullMode::READ_ONLY : wire::PullMode::TRAIN;
  HYBREC_CHECK(n >= 0 && dim >= 1, "pull of ", n, " keys with dim ", dim);
  std::vector<int> targets;
  auto state = impl_->route(keys, n, &targets);
  Request::State* raw = state.get();
  return impl_->fan_out(std::move(state), targets, [=](int s, ShardChannel& c) {
    const std::string shard_keys = Impl::shard_keys(*raw, s, keys);
    const auto& uniques = raw->shard_uniques[s];
    c.pull(table, shard_keys, wire_mode, [&](const char* rows, size_t bytes) {
      if (bytes != uniques.size() * dim * sizeof(float)) {
        HYBREC_THROW("parameter server shard ", s, " at ", c.endpoint().to_string(), ": pull of ",
                     uniques.size(), " keys from table '", table, "' returned ", bytes,
                     " bytes, not ", uniques.size(), " x dim ", dim,
                     " x 4: the table's dim is not ", dim);
      }
      Impl::scatter_rows(*raw, s, rows, dim, out);
    });
  });
}

PsClient::Request PsClient::pull_with_state(const std::string& table, const int64_t* keys,
                                            int64_t n, int64_t width, float* out) {
  HYBREC_CHECK(n >= 0 && width >= 1, "pull_with_state of ", n, " keys with width ", width);
  std::vector<int> targets;
  auto state = impl_->route(keys, n, &targets);
  Request::State* raw = state.get();
  return impl_->fan_out(std::move(state), targets, [=](int s, ShardChannel& c) {
    const std::string shard_keys = Impl::shard_keys(*raw, s, keys);
    const size_t count = raw->shard_uniques[s].size();
    size_t got = 0;
    c.pull(table, shard_keys, wire::PullMode::WITH_STATE, [&](const char* rows, size_t bytes) {
      got = bytes;
      if (bytes == count * width * sizeof(float)) Impl::scatter_rows(*raw, s, rows, width, out);
    });
    // Refused only once the reply is read whole, so the connection stays
    // usable for the next request.
    if (got != count * width * sizeof(float)) {
      HYBREC_PS_REJECT(ErrorCode::kDimMismatch, "parameter server shard ", s, " at ",
                       c.endpoint().to_string(), ": pull_with_state of ", count,
                       " keys from table '", table, "' returned ", got, " bytes, ",
                       got % (count * sizeof(float)) == 0
                           ? std::to_string(got / (count * sizeof(float)))
                           : std::string("not a whole number of"),
                       " floats per key (the table's dim + optimizer state floats), not the width ",
                       width, " asked for");
    }
  });
}

PsClient::Request PsClient::push(const std::string& table, const int64_t* keys, int64_t n,
                                 int64_t dim, const float* grads) {
  HYBREC_CHECK(n >= 0 && dim >= 1, "push of ", n, " keys with dim ", dim);
  return impl_->push_rows(PushKind::kGrads, table, keys, n, dim, grads);
}

PsClient::Request PsClient::push_delta(const std::string& table, const int64_t* keys, int64_t n,
                                       int64_t width, const float* deltas) {
  HYBREC_CHECK(n >= 0 && width >= 1, "push_delta of ", n, " keys with width ", width);
  return impl_->push_rows(PushKind::kDeltas, table, keys, n, width, deltas);
}

PsClient::Request PsClient::assign(const std::string& table, const int64_t* keys, int64_t n,
                                   int64_t dim, const float* rows) {
  HYBREC_CHECK(n >= 0 && dim >= 1, "assign of ", n, " keys with dim ", dim);
  std::vector<int> targets;
  auto state = impl_->route(keys, n, &targets);
  Request::State* raw = state.get();
  return impl_->fan_out(std::move(state), targets, [=](int s, ShardChannel& c) {
    // A key assigned twice keeps its last row, as two sequential assigns would.
    const auto& uniques = raw->shard_uniques[s];
    const auto& groups = raw->groups;
    std::string shard_rows(uniques.size() * dim * sizeof(float), '\0');
    auto* v = reinterpret_cast<float*>(shard_rows.data());
    for (size_t j = 0; j < uniques.size(); ++j) {
      int64_t last = groups.first[uniques[j]];
      while (groups.next[last] >= 0) last = groups.next[last];
      std::memcpy(v + j * dim, rows + last * dim, sizeof(float) * dim);
    }
    const std::string shard_keys = Impl::shard_keys(*raw, s, keys);
    c.call("assign", [&](wire::ParameterServerClient& client) {
      wire::Ack ack;
      client.assign(ack, table, shard_keys, shard_rows);
      c.expect(ack);
    });
  });
}

void PsClient::save(const std::string& run, int64_t version) {
  impl_->on_every_shard("save", [&](wire::ParameterServerClient& client, wire::Ack& ack) {
    client.save(ack, run, version);
  });
}

void PsClient::load(const std::string& run, int64_t version) {
  impl_->on_every_shard("load", [&](wire::ParameterServerClient& client, wire::Ack& ack) {
    client.load(ack, run, version);
  });
}

void PsClient::prune(const std::string& run, const std::vector<int64_t>& keep) {
  impl_->on_every_shard("prune", [&](wire::ParameterServerClient& client, wire::Ack& ack) {
    client.prune(ack, run, keep);
  });
}

void PsClient::accept_restarts() {
  impl_
      ->fan_out(std::make_shared<Request::State>(), impl_->all_shards(),
                [](int, ShardChannel& c) { c.forget_incarnation(); })
      .wait();
}

std::vector<ShardHealth> PsClient::health() {
  std::vector<ShardHealth> out(impl_->shards.size());
  impl_
      ->fan_out(std::make_shared<Request::State>(), impl_->all_shards(),
                [&out](int s, ShardChannel& c) {
                  ShardHealth& h = out[s];
                  h.endpoint = c.endpoint();
                  try {
                    wire::Health w;
                    c.call(
                        "health", [&](wire::ParameterServerClient& client) { client.health(w); },
                        1);
                    h.reachable = w.serving;
                    h.wire_version = w.wire_version;
                    h.shard_index = w.shard_index;
                    h.num_shards = w.num_shards;
                    h.incarnation = w.incarnation;
                  } catch (const std::exception& e) {
                    h.error = e.what();
                  }
                })
      .wait();
  return out;
}

std::vector<std::string> PsClient::stats() {
  std::vector<std::string> out(impl_->shards.size());
  impl_
      ->fan_out(std::make_shared<Request::State>(), impl_->all_shards(),
                [&out](int s, ShardChannel& c) {
                  wire::ServerStats w;
                  c.call("stats", [&](wire::ParameterServerClient& client) { client.stats(w); });
                  std::ostringstream text;
                  text << "shard " << w.shard_index << "/" << w.num_shards << " at "
                       << c.endpoint().to_string() << " (incarnation " << w.incarnation << "): up "
                       << w.uptime_s << " s, " << w.pull_requests << " pulls (" << w.keys_pulled
                       << " keys), " << w.push_requests << " pushes (" << w.keys_pushed
                       << " keys), " << w.rejected_requests << " rejected, " << w.rows_evicted
                       << " rows evicted, " << w.pushes_unadmitted
                       << " pushed keys not admitted, last checkpoint " << w.last_checkpoint_version
                       << "\n";
                  for (const auto& t : w.tables) {
                    text << "  table " << describe(from_wire(t.spec)) << ": " << t.rows << " rows, "
                         << t.bytes << " bytes\n";
                  }
                  out[s] = text.str();
                })
      .wait();
  return out;
}

}  // namespace hybrec::ps
