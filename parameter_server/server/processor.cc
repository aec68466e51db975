#include "parameter_server/server/processor.h"

#include <initializer_list>
#include <utility>

#include "parameter_server/server/connections.h"
#include "parameter_server/server/reply_buffer.h"
#include "parameter_server/wire/auth_token.h"
#include "parameter_server/wire/wire_convert.h"

namespace hybrec::ps {

namespace at = apache::thrift;

namespace {

wire::PsError unauthenticated(const std::string& message) {
  wire::PsError error;
  error.__set_code(wire::ErrorCode::UNAUTHENTICATED);
  error.__set_message(message);
  return error;
}

// A reply whose result struct holds only `error` in field 1, as every
// method's generated result does when it throws PsError.
void write_error_reply(at::protocol::TProtocol* out, const std::string& name, int32_t seqid,
                       const wire::PsError& error) {
  out->writeMessageBegin(name, at::protocol::T_REPLY, seqid);
  out->writeStructBegin("result");
  out->writeFieldBegin("error", at::protocol::T_STRUCT, 1);
  error.write(out);
  out->writeFieldEnd();
  out->writeFieldStop();
  out->writeStructEnd();
  out->writeMessageEnd();
  out->getTransport()->writeEnd();
  out->getTransport()->flush();
}

template <typename Result>
void write_reply(at::protocol::TProtocol* out, const char* name, int32_t seqid,
                 const Result& result) {
  out->writeMessageBegin(name, at::protocol::T_REPLY, seqid);
  result.write(out);
  out->writeMessageEnd();
  out->getTransport()->writeEnd();
  out->getTransport()->flush();
}

// Generated result structs have no setters.
template <typename Result>
void set_error(Result& result, const wire::PsError& error) {
  result.error = error;
  result.__isset.error = true;
}

void finish_reading(at::protocol::TProtocol* in) {
  in->readMessageEnd();
  in->getTransport()->readEnd();
}

using Fields = std::initializer_list<std::pair<bool, const char*>>;

// The first field of `fields` (present?, name) that is absent, or nullptr.
const char* first_missing(Fields fields) {
  for (const auto& [present, name] : fields) {
    if (!present) return name;
  }
  return nullptr;
}

// One call as the generated process_<name> does it: read Args, answer with
// Result, except that a missing argument (presence(args) names it) is
// BAD_REQUEST and never reaches the handler.
template <typename Args, typename Result, typename Presence, typename Handle>
void serve_call(PsService& service, const char* name, at::protocol::TProtocol* in,
                at::protocol::TProtocol* out, int32_t seqid, Presence&& presence, Handle&& handle) {
  Args args;
  args.read(in);
  finish_reading(in);
  Result result;
  try {
    if (const char* missing = presence(args)) throw service.missing_field(name, missing);
    handle(args, result.success);
    result.__isset.success = true;
  } catch (wire::PsError& error) {
    set_error(result, error);
  }
  write_reply(out, name, seqid, result);
}

}  // namespace

bool PsProcessor::dispatchCall(at::protocol::TProtocol* in, at::protocol::TProtocol* out,
                               const std::string& name, int32_t seqid, void* context) {
  auto* connection = static_cast<Connection*>(context);
  if (connection == nullptr) return dispatch(in, out, name, seqid, nullptr, context);
  connection->begin_request();
  try {
    const bool ok = dispatch(in, out, name, seqid, connection, context);
    connection->end_request();
    return ok;
  } catch (...) {
    connection->end_request();
    throw;
  }
}

bool PsProcessor::dispatch(at::protocol::TProtocol* in, at::protocol::TProtocol* out,
                           const std::string& name, int32_t seqid, Connection* connection,
                           void* context) {
  if (name == "auth_begin") {
    auth_begin(in, out, seqid, connection);
    return true;
  }
  if (name == "auth_finish") {
    auth_finish(in, out, seqid, connection);
    return true;
  }
  if (!token_.empty() && name != "health" && !(connection && connection->authenticated)) {
    in->skip(at::protocol::T_STRUCT);
    finish_reading(in);
    write_error_reply(out, name, seqid,
                      unauthenticated(name + " refused: this server requires token "
                                             "authentication (give the client the server's "
                                             "--auth-token-file)"));
    return true;
  }
  if (dispatch_checked(in, out, name, seqid)) return true;
  // stats and health read no arguments; anything else is Thrift's
  // UNKNOWN_METHOD.
  return ParameterServerProcessor::dispatchCall(in, out, name, seqid, context);
}

bool PsProcessor::dispatch_checked(at::protocol::TProtocol* in, at::protocol::TProtocol* out,
                                   const std::string& name, int32_t seqid) {
  PsService& s = *service_;
  if (name == "pull") {
    // Only the nonblocking server's memory buffer takes the direct path.
    if (dynamic_cast<at::transport::TMemoryBuffer*>(out->getTransport().get()) != nullptr) {
      pull(in, out, seqid);
    } else {
      serve_call<wire::ParameterServer_pull_args, wire::ParameterServer_pull_result>(
          s, "pull", in, out, seqid,
          [](const auto& a) {
            return first_missing(
                {{a.__isset.table, "table"}, {a.__isset.keys, "keys"}, {a.__isset.mode, "mode"}});
          },
          [&](const auto& a, wire::PullReply& r) { s.pull(r, a.table, a.keys, a.mode); });
    }
  } else if (name == "push") {
    serve_call<wire::ParameterServer_push_args, wire::ParameterServer_push_result>(
        s, "push", in, out, seqid,
        [](const auto& a) {
          return first_missing({{a.__isset.table, "table"},
                                {a.__isset.keys, "keys"},
                                {a.__isset.grads, "grads"},
                                {a.__isset.client_id, "client_id"},
                                {a.__isset.sequence, "sequence"}});
        },
        [&](const auto& a, wire::Ack& r) {
          s.push(r, a.table, a.keys, a.grads, a.client_id, a.sequence);
        });
  } else if (name == "push_delta") {
    serve_call<wire::ParameterServer_push_delta_args, wire::ParameterServer_push_delta_result>(
        s, "push_delta", in, out, seqid,
        [](const auto& a) {
          return first_missing({{a.__isset.table, "table"},
                                {a.__isset.keys, "keys"},
                                {a.__isset.deltas, "deltas"},
                                {a.__isset.client_id, "client_id"},
                                {a.__isset.sequence, "sequence"}});
        },
        [&](const auto& a, wire::Ack& r) {
          s.push_delta(r, a.table, a.keys, a.deltas, a.client_id, a.sequence);
        });
  } else if (name == "create_table") {
    // The spec's own fields are checked where it is converted (from_wire).
    serve_call<wire::ParameterServer_create_table_args, wire::ParameterServer_create_table_result>(
        s, "create_table", in, out, seqid,
        [](const auto& a) {
          if (!a.__isset.spec) return "spec";
          return missing_field(a.spec);
        },
        [&](const auto& a, wire::Ack& r) { s.create_table(r, a.spec); });
  } else if (name == "assign") {
    serve_call<wire::ParameterServer_assign_args, wire::ParameterServer_assign_result>(
        s, "assign", in, out, seqid,
        [](const auto& a) {
          return first_missing(
              {{a.__isset.table, "table"}, {a.__isset.keys, "keys"}, {a.__isset.rows, "rows"}});
        },
        [&](const auto& a, wire::Ack& r) { s.assign(r, a.table, a.keys, a.rows); });
  } else if (name == "save" || name == "load") {
    const bool save = name == "save";
    auto presence = [](const auto& a) {
      return first_missing({{a.__isset.run, "run"}, {a.__isset.version, "version"}});
    };
    if (save) {
      serve_call<wire::ParameterServer_save_args, wire::ParameterServer_save_result>(
          s, "save", in, out, seqid, presence,
          [&](const auto& a, wire::Ack& r) { s.save(r, a.run, a.version); });
    } else {
      serve_call<wire::ParameterServer_load_args, wire::ParameterServer_load_result>(
          s, "load", in, out, seqid, presence,
          [&](const auto& a, wire::Ack& r) { s.load(r, a.run, a.version); });
    }
  } else if (name == "prune") {
    serve_call<wire::ParameterServer_prune_args, wire::ParameterServer_prune_result>(
        s, "prune", in, out, seqid,
        [](const auto& a) {
          return first_missing({{a.__isset.run, "run"}, {a.__isset.keep, "keep"}});
        },
        [&](const auto& a, wire::Ack& r) { s.prune(r, a.run, a.keep); });
  } else {
    return false;
  }
  return true;
}

void PsProcessor::auth_begin(at::protocol::TProtocol* in, at::protocol::TProtocol* out,
                             int32_t seqid, Connection* connection) {
  wire::ParameterServer_auth_begin_args args;
  args.read(in);
  finish_reading(in);
  wire::ParameterServer_auth_begin_result result;
  if (token_.empty()) {
    set_error(
        result,
        unauthenticated(
            "token authentication refused: this server was started without --auth-token-file"));
  } else if (connection == nullptr) {
    set_error(result, unauthenticated("token authentication needs a connection"));
  } else if (args.client_nonce.size() != kAuthNonceBytes) {
    set_error(result, unauthenticated("auth_begin: client nonce of " +
                                      std::to_string(args.client_nonce.size()) +
                                      " bytes, expected " + std::to_string(kAuthNonceBytes)));
  } else {
    connection->authenticated = false;
    connection->client_nonce = args.client_nonce;
    connection->server_nonce = random_nonce();
    result.success = connection->server_nonce +
                     auth_proof(token_, true, args.client_nonce, connection->server_nonce);
    result.__isset.success = true;
  }
  write_reply(out, "auth_begin", seqid, result);
}

void PsProcessor::auth_finish(at::protocol::TProtocol* in, at::protocol::TProtocol* out,
                              int32_t seqid, Connection* connection) {
  wire::ParameterServer_auth_finish_args args;
  args.read(in);
  finish_reading(in);
  wire::ParameterServer_auth_finish_result result;
  if (token_.empty()) {
    set_error(
        result,
        unauthenticated(
            "token authentication refused: this server was started without --auth-token-file"));
  } else if (connection == nullptr || connection->server_nonce.empty()) {
    set_error(result, unauthenticated("auth_finish without auth_begin on this connection"));
  } else {
    const std::string want =
        auth_proof(token_, false, connection->client_nonce, connection->server_nonce);
    connection->server_nonce.clear();  // one proof per challenge
    connection->authenticated = proofs_equal(args.client_proof, want);
    if (!connection->authenticated) {
      set_error(result, unauthenticated("wrong token: the client's proof does not match this "
                                        "server's --auth-token-file"));
    }
  }
  write_reply(out, "auth_finish", seqid, result);
}

void PsProcessor::pull(at::protocol::TProtocol* in, at::protocol::TProtocol* out, int32_t seqid) {
  // The arguments, as ParameterServer_pull_args::read reads them.
  std::string table, keys, field_name;
  int32_t mode = 0;
  bool has_table = false, has_keys = false, has_mode = false;
  in->readStructBegin(field_name);
  for (;;) {
    at::protocol::TType type;
    int16_t id;
    in->readFieldBegin(field_name, type, id);
    if (type == at::protocol::T_STOP) break;
    if (id == 1 && type == at::protocol::T_STRING) {
      in->readString(table);
      has_table = true;
    } else if (id == 2 && type == at::protocol::T_STRING) {
      in->readBinary(keys);
      has_keys = true;
    } else if (id == 3 && type == at::protocol::T_I32) {
      in->readI32(mode);
      has_mode = true;
    } else {
      in->skip(type);
    }
    in->readFieldEnd();
  }
  in->readStructEnd();
  finish_reading(in);

  ReplyBuffer reply(*static_cast<at::transport::TMemoryBuffer*>(out->getTransport().get()));
  try {
    if (const char* missing =
            first_missing({{has_table, "table"}, {has_keys, "keys"}, {has_mode, "mode"}})) {
      throw service_->missing_field("pull", missing);
    }
    // Field for field what ParameterServer_pull_result::write sends for a
    // PullReply, with the rows written in place once the service knows
    // their size.
    service_->pull_into(table, keys, static_cast<wire::PullMode::type>(mode), [&](uint32_t bytes) {
      out->writeMessageBegin("pull", at::protocol::T_REPLY, seqid);
      out->writeStructBegin("ParameterServer_pull_result");
      out->writeFieldBegin("success", at::protocol::T_STRUCT, 0);
      out->writeStructBegin("PullReply");
      out->writeFieldBegin("incarnation", at::protocol::T_I64, 1);
      out->writeI64(service_->incarnation());
      out->writeFieldEnd();
      out->writeFieldBegin("rows", at::protocol::T_STRING, 2);
      out->writeI32(static_cast<int32_t>(bytes));
      return reply.reserve(bytes);
    });
    out->writeFieldEnd();
    out->writeFieldStop();
    out->writeStructEnd();
    out->writeFieldEnd();
  } catch (const wire::PsError& error) {
    reply.discard();
    write_error_reply(out, "pull", seqid, error);
    return;
  }
  out->writeFieldStop();
  out->writeStructEnd();
  out->writeMessageEnd();
  out->getTransport()->writeEnd();
  out->getTransport()->flush();
}

}  // namespace hybrec::ps
