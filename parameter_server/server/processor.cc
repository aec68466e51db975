#include "parameter_server/server/processor.h"

#include <initializer_list>
#include <utility>

#include "parameter_server/server/reply_frame.h"
#include "parameter_server/wire/wire_convert.h"

namespace hybrec::ps {

namespace at = apache::thrift;

namespace {

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
                at::protocol::TProtocol* out, int32_t seqid, Presence&& presence,
                Handle&& handle) {
  Args args;
  args.read(in);
  in->readMessageEnd();
  in->getTransport()->readEnd();
  Result result;
  try {
    if (const char* missing = presence(args)) throw service.missing_field(name, missing);
    handle(args, result.success);
    result.__isset.success = true;
  } catch (wire::PsError& error) {
    result.error = std::move(error);
    result.__isset.error = true;
  }
  out->writeMessageBegin(name, at::protocol::T_REPLY, seqid);
  result.write(out);
  out->writeMessageEnd();
  out->getTransport()->writeEnd();
  out->getTransport()->flush();
}

}  // namespace

bool PsProcessor::dispatchCall(at::protocol::TProtocol* in, at::protocol::TProtocol* out,
                               const std::string& name, int32_t seqid, void* context) {
  PsService& s = *service_;
  if (name == "pull") {
    // Only a reply frame that can hand out space takes the direct path.
    if (dynamic_cast<ReplyFrameTransport*>(out->getTransport().get()) != nullptr) {
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
    // stats and health read no arguments; anything else is Thrift's
    // UNKNOWN_METHOD.
    return ParameterServerProcessor::dispatchCall(in, out, name, seqid, context);
  }
  return true;
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
  in->readMessageEnd();
  in->getTransport()->readEnd();

  auto* frame = static_cast<ReplyFrameTransport*>(out->getTransport().get());
  try {
    if (const char* missing = first_missing(
            {{has_table, "table"}, {has_keys, "keys"}, {has_mode, "mode"}})) {
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
      return frame->reserve(bytes);
    });
    out->writeFieldEnd();
    out->writeFieldStop();
    out->writeStructEnd();
    out->writeFieldEnd();
  } catch (const wire::PsError& error) {
    frame->discard_frame();
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
