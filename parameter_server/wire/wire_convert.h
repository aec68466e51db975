// Conversions between hybrec's parameter-server types and the generated
// Thrift types of ps.thrift, in one place so neither side leaks into the other.
#pragma once

#include "ParameterServer.h"
#include "parameter_server/wire/errors.h"
#include "parameter_server/wire/table_spec.h"

namespace hybrec::ps {

wire::TableSpec to_wire(const TableSpec& spec);
// Unknown optimizer values become an invalid spec that validate() rejects.
TableSpec from_wire(const wire::TableSpec& spec);
// The first field a spec read off the wire lacks ("spec.dim"), or nullptr. Every field
// is required (a missing one would read as zero). Only meaningful for a
// struct that Thrift read: __set_ of a default-requiredness field does not
// mark it set.
const char* missing_field(const wire::TableSpec& spec);

wire::PsError to_wire(const RequestError& error);
RequestError from_wire(const wire::PsError& error);

// Thrift prints every transport failure to stderr by itself ("TSocket::open()
// error ..."); hybrec reports failures through its own errors and logs
// instead, so the client and server switch that printing off once.
void silence_thrift_output();

}  // namespace hybrec::ps
