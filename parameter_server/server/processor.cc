#include "parameter_server/server/processor.h"

#include "parameter_server/server/reply_frame.h"

namespace hybrec::ps {

namespace at = apache::thrift;

bool PsProcessor::dispatchCall(at::protocol::TProtocol* in, at::protocol::TProtocol* out,
                               const std::string& name, int32_t seqid, void* context) {
  // Only a reply frame that can hand out space takes the direct path.
  if (name == "pull" && dynamic_cast<ReplyFrameTransport*>(out->getTransport().get()) != nullptr) {
    pull(in, out, seqid);
    return true;
  }
  return ParameterServerProcessor::dispatchCall(in, out, name, seqid, context);
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
  in->readMessageEnd();
  in->getTransport()->readEnd();

  auto* frame = static_cast<ReplyFrameTransport*>(out->getTransport().get());
  try {
    // Field for field what ParameterServer_pull_result::write sends, with
    // the rows written in place once the service knows their size.
    service_->pull_into(table, keys, [&](uint32_t bytes) {
      out->writeMessageBegin("pull", at::protocol::T_REPLY, seqid);
      out->writeStructBegin("ParameterServer_pull_result");
      out->writeFieldBegin("success", at::protocol::T_STRING, 0);
      out->writeI32(static_cast<int32_t>(bytes));
      return frame->reserve(bytes);
    });
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
