// Mutual TLS on the parameter-server port (Thrift's SSL sockets over
// OpenSSL). Both ends present a certificate signed by the same CA and
// verify the other's: the server refuses a client without one (or with one
// from another CA), the client refuses a server whose certificate is not
// signed by the CA or does not name the host it dialled (a DNS or IP
// subject alternative name; scripts/make-certs.sh makes such a set).
#pragma once

#include <memory>
#include <string>

namespace apache::thrift::transport {
class TSSLSocketFactory;
}

namespace hybrec::ps {

struct TlsFiles {
  std::string cert;  // this side's certificate (PEM)
  std::string key;   // its private key (PEM)
  std::string ca;    // the CA that signs both sides' certificates (PEM)

  bool enabled() const { return !cert.empty() || !key.empty() || !ca.empty(); }
};

// A socket factory for the server (server = true) or the client side, with
// peer verification required. Ignores SIGPIPE process-wide (OpenSSL's
// writes to a closed peer would raise it). Throws hybrec::Error naming the flag and file
// when one of the three is missing or cannot be loaded. `flag_prefix` names
// the options in messages ("--tls-" for the commands, "ps.tls_" for the
// trainer's config).
std::shared_ptr<apache::thrift::transport::TSSLSocketFactory> make_tls_factory(
    const TlsFiles& files, bool server, const std::string& flag_prefix = "--tls-");

}  // namespace hybrec::ps
