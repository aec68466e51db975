#include "parameter_server/server/processor.h"

#include "parameter_server/server/connections.h"
#include "parameter_server/server/reply_buffer.h"
#include "parameter_server/wire/auth_token.h"

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
  auto* memory = dynamic_cast<at::transport::TMemoryBuffer*>(out->getTransport().get());
  if (name == "pull" && memory != nullptr) {
    pull(in, out, seqid);
    return true;
  }
  return ParameterServerProcessor::dispatchCall(in, out, name, seqid, context);
}

void PsProcessor::auth_begin(at::protocol::TProtocol* in, at::protocol::TProtocol* out,
                             int32_t seqid, Connection* connection) {
  wire::ParameterServer_auth_begin_args args;
  args.read(in);
  finish_reading(in);
  wire::ParameterServer_auth_begin_result result;
  if (token_.empty()) {
    set_error(result, unauthenticated(
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
    set_error(result, unauthenticated(
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
  in->readStructBegin(field_name);
  for (;;) {
    at::protocol::TType type;
    int16_t id;
    in->readFieldBegin(field_name, type, id);
    if (type == at::protocol::T_STOP) break;
    if (id == 1 && type == at::protocol::T_STRING) {
      in->readString(table);
    } else if (id == 2 && type == at::protocol::T_STRING) {
      in->readBinary(keys);
    } else {
      in->skip(type);
    }
    in->readFieldEnd();
  }
  in->readStructEnd();
  finish_reading(in);

  ReplyBuffer reply(*static_cast<at::transport::TMemoryBuffer*>(out->getTransport().get()));
  try {
    // Field for field what ParameterServer_pull_result::write sends, with
    // the rows written in place once the service knows their size.
    service_->pull_into(table, keys, [&](uint32_t bytes) {
      out->writeMessageBegin("pull", at::protocol::T_REPLY, seqid);
      out->writeStructBegin("ParameterServer_pull_result");
      out->writeFieldBegin("success", at::protocol::T_STRING, 0);
      out->writeI32(static_cast<int32_t>(bytes));
      return reply.reserve(bytes);
    });
    out->writeFieldEnd();
  } catch (const wire::PsError& error) {
    reply.discard();
    out->writeMessageBegin("pull", at::protocol::T_REPLY, seqid);
    out->writeStructBegin("ParameterServer_pull_result");
    out->writeFieldBegin("error", at::protocol::T_STRUCT, 1);
    error.write(out);
    out->writeFieldEnd();
  }
  out->writeFieldStop();
  out->writeStructEnd();
  out->writeMessageEnd();
  out->getTransport()->writeEnd();
  out->getTransport()->flush();
}

}  // namespace hybrec::ps
