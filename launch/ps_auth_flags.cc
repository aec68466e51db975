#include "launch/ps_auth_flags.h"

namespace hybrec::launch {

void add_ps_auth_flags(Flags& flags, bool server) {
  const std::string side = server ? "this server's" : "the client's";
  flags.add("tls-cert", "FILE",
            "mutual TLS: " + side +
                " certificate (PEM, signed by --tls-ca; "
                "scripts/make-certs.sh makes a set)");
  flags.add("tls-key", "FILE", "mutual TLS: the private key of --tls-cert (PEM)");
  flags.add("tls-ca", "FILE",
            server ? "mutual TLS: the CA that must sign every client's certificate"
                   : "mutual TLS: the CA that must sign the servers' certificates");
  flags.add("auth-token-file", "FILE",
            server ? "require every connection to prove it knows the token in FILE (chmod 600; "
                     "challenge-response, the token never travels)"
                   : "prove knowledge of the servers' token in FILE (chmod 600)");
}

ps::TlsFiles tls_files(const Flags& flags) {
  return ps::TlsFiles{flags.get("tls-cert", ""), flags.get("tls-key", ""), flags.get("tls-ca", "")};
}

std::string auth_token_file(const Flags& flags) { return flags.get("auth-token-file", ""); }

}  // namespace hybrec::launch
