// The authentication flags `hybrec ps` and `hybrec ps-ctl` share: mutual TLS
// (--tls-cert, --tls-key, --tls-ca) and the token file (--auth-token-file).
#pragma once

#include <string>

#include "launch/flags.h"
#include "parameter_server/wire/tls.h"

namespace hybrec::launch {

// server: the help speaks of this server's certificate, else the client's.
void add_ps_auth_flags(Flags& flags, bool server);
ps::TlsFiles tls_files(const Flags& flags);
std::string auth_token_file(const Flags& flags);

}  // namespace hybrec::launch
