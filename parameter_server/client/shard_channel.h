// One parameter-server shard as the client sees it: a persistent Thrift
// connection, the thread that uses it (so requests to one shard run in the
// order they were issued), retries with backoff, and the calls whose
// payloads bypass the generated code's intermediate strings (pull replies
// read straight from the frame buffer, push gradients and push_delta deltas
// written straight into it). Internal to client.cc; see client.h for the
// contract.
#pragma once

#include <thrift/TConfiguration.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSSLSocket.h>
#include <thrift/transport/TSocket.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ParameterServer.h"
#include "parameter_server/client/client.h"
#include "parameter_server/wire/auth_token.h"
#include "parameter_server/wire/errors.h"
#include "parameter_server/wire/wire_convert.h"
#include "ps_constants.h"

namespace hybrec::ps {

namespace at = apache::thrift;

using Protocol = at::protocol::TBinaryProtocolT<at::transport::TFramedTransport>;

// The two sequenced calls (ps.thrift): push sends gradients, push_delta
// row-and-state deltas. Their arguments differ only in field 3's name.
enum class PushKind { kGrads, kDeltas };

class ShardChannel {
 public:
  // tls: null for plain TCP. token: empty for no token authentication.
  ShardChannel(int index, int num_shards, Endpoint endpoint, const ClientOptions& options,
               int64_t client_id, std::shared_ptr<at::transport::TSSLSocketFactory> tls,
               std::string token)
      : index_(index),
        num_shards_(num_shards),
        endpoint_(std::move(endpoint)),
        options_(options),
        client_id_(client_id),
        tls_(std::move(tls)),
        token_(std::move(token)) {
    worker_ = std::thread([this] { run(); });
  }
  ~ShardChannel() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closing_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  const Endpoint& endpoint() const { return endpoint_; }

  // pull, with the reply's rows handed to consume(bytes, size) straight out
  // of the transport's frame buffer: the generated recv_pull would first
  // copy all of them into a string (one full extra pass over the reply).
  void pull(const std::string& table, const std::string& keys, wire::PullMode::type mode,
            const std::function<void(const char*, size_t)>& consume) {
    call("pull", [&](wire::ParameterServerClient& client) {
      client.send_pull(table, keys, mode);
      recv_pull_rows(consume);
    });
  }

  // Fails with ShardRestartedError when a reply's incarnation is not the one
  // this channel met first (on this channel's thread).
  void expect(int64_t incarnation) {
    if (incarnation_ == 0) {
      incarnation_ = incarnation;
      return;
    }
    if (incarnation != incarnation_) {
      const int64_t before = incarnation_;
      disconnect();
      throw ShardRestartedError(
          index_, before, incarnation,
          prefix() + "the shard restarted (incarnation " + std::to_string(before) + " is now " +
              std::to_string(incarnation) +
              "): it lost every update since its last checkpoint, so carrying on would train "
              "against older rows",
          __FILE__, __LINE__);
    }
  }
  void expect(const wire::Ack& ack) { expect(ack.incarnation); }
  // Forgets the incarnation met so far (on this channel's thread).
  void forget_incarnation() { incarnation_ = 0; }

  // Runs task on this shard's thread, after every task submitted before it.
  void submit(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

  // push (kGrads) or push_delta (kDeltas), with the values written by
  // write_values(transport) straight into the request frame (`bytes` of
  // them): the generated send_push would take them as a string, one full
  // extra copy of the request.
  void push(PushKind kind, const std::string& table, const std::string& keys, uint32_t bytes,
            const std::function<void(at::transport::TFramedTransport&)>& write_values) {
    const bool grads = kind == PushKind::kGrads;
    const char* method = grads ? "push" : "push_delta";
    // One sequence for every attempt: a retry after a lost reply is then
    // recognised by the shard and not applied twice. pushes and push_deltas
    // share it, as they share the shard's ledger.
    const int64_t sequence = ++push_sequence_;
    call(method, [&](wire::ParameterServerClient& client) {
      // Field for field what ParameterServer_push_pargs::write (or
      // push_delta's) sends.
      Protocol& out = *protocol_;
      out.writeMessageBegin(method, at::protocol::T_CALL, 0);
      out.writeStructBegin(grads ? "ParameterServer_push_pargs"
                                 : "ParameterServer_push_delta_pargs");
      out.writeFieldBegin("table", at::protocol::T_STRING, 1);
      out.writeString(table);
      out.writeFieldEnd();
      out.writeFieldBegin("keys", at::protocol::T_STRING, 2);
      out.writeBinary(keys);
      out.writeFieldEnd();
      out.writeFieldBegin(grads ? "grads" : "deltas", at::protocol::T_STRING, 3);
      out.writeI32(static_cast<int32_t>(bytes));
      write_values(*transport_);
      out.writeFieldEnd();
      out.writeFieldBegin("client_id", at::protocol::T_I64, 4);
      out.writeI64(client_id_);
      out.writeFieldEnd();
      out.writeFieldBegin("sequence", at::protocol::T_I64, 5);
      out.writeI64(sequence);
      out.writeFieldEnd();
      out.writeFieldStop();
      out.writeStructEnd();
      out.writeMessageEnd();
      transport_->writeEnd();
      transport_->flush();
      wire::Ack ack;
      if (grads) {
        client.recv_push(ack);
      } else {
        client.recv_push_delta(ack);
      }
      expect(ack);
    });
  }

  // Calls fn(client) with retries on transport failures (on the shard's
  // thread). attempts <= 0: options.max_attempts.
  void call(const char* what, const std::function<void(wire::ParameterServerClient&)>& fn,
            int attempts = 0) {
    if (attempts <= 0) attempts = options_.max_attempts;
    int backoff_ms = options_.backoff_initial_ms;
    std::string last_error;
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      try {
        connect();
        fn(*client_);
        return;
      } catch (const ShardRestartedError&) {
        throw;  // not a transport failure: retrying cannot help
      } catch (const wire::PsError& e) {
        RequestError error = from_wire(e);
        throw RequestError(error.code(), prefix() + error.what(), __FILE__, __LINE__);
      } catch (const at::TApplicationException& e) {
        disconnect();  // the stream position is unknown after an application error
        HYBREC_THROW(prefix(), what, " failed on the server: ", e.what());
      } catch (const at::transport::TSSLException& e) {
        // A certificate the other side refuses does not get better with retries.
        disconnect();
        HYBREC_THROW(prefix(), what, " failed: TLS: ", e.what(),
                     " (both certificates must be signed by the same --tls-ca, and the "
                     "server's must name the host dialled)");
      } catch (const at::TException& e) {  // transport or protocol: the connection is suspect
        disconnect();
        last_error = e.what();
      }
      if (attempt < attempts) {
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
        backoff_ms = std::min(backoff_ms * 2, options_.backoff_max_ms);
      }
    }
    HYBREC_THROW(prefix(), what, " failed: unreachable after ", attempts,
                 attempts == 1 ? " attempt" : " attempts", ": ", last_error);
  }

 private:
  std::string prefix() const {
    return "parameter server shard " + std::to_string(index_) + " at " + endpoint_.to_string() +
           ": ";
  }

  void connect() {
    if (client_) return;
    const int limit = static_cast<int>(options_.max_frame_bytes);
    auto config = std::make_shared<at::TConfiguration>(limit, limit);
    std::shared_ptr<at::transport::TSocket> socket =
        tls_ ? tls_->createSocket(endpoint_.host, endpoint_.port)
             : std::make_shared<at::transport::TSocket>(endpoint_.host, endpoint_.port, config);
    socket->setConnTimeout(options_.connect_timeout_ms);
    socket->setRecvTimeout(options_.io_timeout_ms);
    socket->setSendTimeout(options_.io_timeout_ms);
    socket->setNoDelay(true);
    transport_ = std::make_shared<at::transport::TFramedTransport>(socket, config);
    protocol_ = std::make_shared<Protocol>(transport_, limit, limit, true, true);
    transport_->open();
    client_ = std::make_unique<wire::ParameterServerClient>(protocol_);
    wire::Health health;
    try {
      client_->health(health);
    } catch (const at::transport::TTransportException& e) {
      disconnect();
      if (tls_ || e.getType() != at::transport::TTransportException::END_OF_FILE) throw;
      throw at::transport::TTransportException(
          e.getType(), std::string(e.what()) +
                           " (a server started with --tls-* closes connections without TLS)");
    } catch (...) {
      disconnect();
      throw;
    }
    // A wrong address or a server of another version is a configuration
    // error: fail at once rather than route keys to the wrong shard.
    if (health.wire_version != wire::g_ps_constants.WIRE_VERSION || health.shard_index != index_ ||
        health.num_shards != num_shards_) {
      disconnect();
      HYBREC_THROW(prefix(), "expected shard ", index_, " of ", num_shards_,
                   " speaking wire version ", wire::g_ps_constants.WIRE_VERSION, ", found shard ",
                   health.shard_index, " of ", health.num_shards, " speaking version ",
                   health.wire_version);
    }
    if (!token_.empty()) {
      try {
        authenticate();
      } catch (...) {
        disconnect();
        throw;
      }
    }
    // A reconnect is where a restart shows first: the old process's
    // connection broke with it.
    expect(health.incarnation);
  }

  // The client's half of ps.thrift's challenge-response: check the server's
  // proof of the token, then prove it.
  void authenticate() {
    const std::string client_nonce = random_nonce();
    std::string challenge;
    client_->auth_begin(challenge, client_nonce);
    HYBREC_CHECK(challenge.size() == kAuthNonceBytes + kAuthProofBytes, prefix(),
                 "token authentication: the server's challenge is ", challenge.size(),
                 " bytes, expected ", kAuthNonceBytes + kAuthProofBytes);
    const std::string server_nonce = challenge.substr(0, kAuthNonceBytes);
    HYBREC_CHECK(proofs_equal(challenge.substr(kAuthNonceBytes),
                              auth_proof(token_, true, client_nonce, server_nonce)),
                 prefix(),
                 "wrong token: the server's proof does not match this client's "
                 "--auth-token-file (the server holds another token)");
    client_->auth_finish(auth_proof(token_, false, client_nonce, server_nonce));
  }

  // The generated recv_pull, except for the rows field (see pull()).
  void recv_pull_rows(const std::function<void(const char*, size_t)>& consume) {
    Protocol& in = *protocol_;
    std::string name;
    at::protocol::TMessageType type;
    int32_t seqid = 0;
    in.readMessageBegin(name, type, seqid);
    if (type == at::protocol::T_EXCEPTION) {
      at::TApplicationException x;
      x.read(&in);
      in.readMessageEnd();
      transport_->readEnd();
      throw x;
    }
    if (type != at::protocol::T_REPLY || name != "pull") {
      throw at::TApplicationException(at::TApplicationException::INVALID_MESSAGE_TYPE,
                                      "pull: unexpected reply '" + name + "'");
    }
    bool got_rows = false, got_error = false;
    wire::PsError error;
    in.readStructBegin(name);
    for (;;) {
      at::protocol::TType field_type;
      int16_t field_id;
      in.readFieldBegin(name, field_type, field_id);
      if (field_type == at::protocol::T_STOP) break;
      if (field_id == 0 && field_type == at::protocol::T_STRUCT) {
        got_rows = read_pull_reply(consume);
      } else if (field_id == 1 && field_type == at::protocol::T_STRUCT) {
        error.read(&in);
        got_error = true;
      } else {
        in.skip(field_type);
      }
      in.readFieldEnd();
    }
    in.readStructEnd();
    in.readMessageEnd();
    transport_->readEnd();
    if (got_error) throw error;
    if (!got_rows) {
      throw at::TApplicationException(at::TApplicationException::MISSING_RESULT,
                                      "pull failed: unknown result");
    }
  }

  // A PullReply, its rows handed to consume straight from the frame buffer
  // when they are all in it. Returns whether both fields came.
  bool read_pull_reply(const std::function<void(const char*, size_t)>& consume) {
    Protocol& in = *protocol_;
    std::string name;
    bool got_incarnation = false, got_rows = false;
    int64_t incarnation = 0;
    in.readStructBegin(name);
    for (;;) {
      at::protocol::TType field_type;
      int16_t field_id;
      in.readFieldBegin(name, field_type, field_id);
      if (field_type == at::protocol::T_STOP) break;
      if (field_id == 1 && field_type == at::protocol::T_I64) {
        in.readI64(incarnation);
        got_incarnation = true;
      } else if (field_id == 2 && field_type == at::protocol::T_STRING) {
        // Checked before the rows are handed over: rows of a restarted
        // shard must not reach the caller.
        if (got_incarnation) expect(incarnation);
        int32_t size = 0;
        in.readI32(size);
        if (size < 0) {
          throw at::protocol::TProtocolException(at::protocol::TProtocolException::NEGATIVE_SIZE);
        }
        uint32_t available = static_cast<uint32_t>(size);
        const uint8_t* bytes = transport_->borrow(nullptr, &available);
        if (bytes != nullptr) {
          consume(reinterpret_cast<const char*>(bytes), static_cast<size_t>(size));
          transport_->consume(static_cast<uint32_t>(size));
        } else {  // not all in the frame buffer: the generic path
          std::string rows(static_cast<size_t>(size), '\0');
          transport_->readAll(reinterpret_cast<uint8_t*>(rows.data()), static_cast<uint32_t>(size));
          consume(rows.data(), rows.size());
        }
        got_rows = true;
      } else {
        in.skip(field_type);
      }
      in.readFieldEnd();
    }
    in.readStructEnd();
    return got_incarnation && got_rows;
  }

  void disconnect() {
    client_.reset();
    protocol_.reset();
    if (transport_) {
      try {
        transport_->getUnderlyingTransport()->close();
      } catch (const at::TException&) {
      }
      transport_.reset();
    }
  }

  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
        if (queue_.empty()) break;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
    disconnect();
  }

  const int index_, num_shards_;
  const Endpoint endpoint_;
  const ClientOptions options_;
  const int64_t client_id_;
  const std::shared_ptr<at::transport::TSSLSocketFactory> tls_;
  const std::string token_;
  int64_t push_sequence_ = 0;  // used only on this channel's thread
  int64_t incarnation_ = 0;    // the shard's, as first met (0: not yet); this thread only
  std::shared_ptr<at::transport::TFramedTransport> transport_;
  std::shared_ptr<Protocol> protocol_;
  std::unique_ptr<wire::ParameterServerClient> client_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool closing_ = false;
  std::thread worker_;
};

}  // namespace hybrec::ps
