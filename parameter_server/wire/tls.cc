#include "parameter_server/wire/tls.h"

#include <signal.h>
#include <thrift/transport/TSSLSocket.h>
#include <unistd.h>

#include "hybrec/kernels/error.h"

namespace hybrec::ps {

namespace att = apache::thrift::transport;

namespace {

void check_file(const std::string& path, const std::string& flag) {
  HYBREC_CHECK(!path.empty(), "TLS needs all of ", flag.substr(0, flag.rfind('-') + 1),
               "cert, key and ca; ", flag, " is missing");
  HYBREC_CHECK(::access(path.c_str(), R_OK) == 0, flag, " '", path, "' cannot be read");
}

}  // namespace

std::shared_ptr<att::TSSLSocketFactory> make_tls_factory(const TlsFiles& files, bool server,
                                                         const std::string& flag_prefix) {
  // OpenSSL writes to its socket with write(), which raises SIGPIPE when the
  // peer has gone (plain Thrift sockets send with MSG_NOSIGNAL); that signal
  // would kill the process instead of failing the one connection.
  ::signal(SIGPIPE, SIG_IGN);
  check_file(files.cert, flag_prefix + "cert");
  check_file(files.key, flag_prefix + "key");
  check_file(files.ca, flag_prefix + "ca");
  // SSLTLS: the newest version both ends speak (TLS 1.3 with OpenSSL 3,
  // whose default security level refuses anything before TLS 1.2).
  auto factory = std::make_shared<att::TSSLSocketFactory>(att::SSLTLS);
  factory->server(server);
  try {
    factory->loadCertificate(files.cert.c_str());
  } catch (const att::TSSLException& e) {
    HYBREC_THROW(flag_prefix, "cert '", files.cert,
                 "' is not a usable PEM certificate: ", e.what());
  }
  try {
    factory->loadPrivateKey(files.key.c_str());
  } catch (const att::TSSLException& e) {
    HYBREC_THROW(flag_prefix, "key '", files.key, "' is not a usable PEM private key: ", e.what());
  }
  try {
    factory->loadTrustedCertificates(files.ca.c_str());
  } catch (const att::TSSLException& e) {
    HYBREC_THROW(flag_prefix, "ca '", files.ca, "' is not a usable PEM CA certificate: ", e.what());
  }
  // Peer verification both ways; a server also fails a client that sends
  // no certificate at all. The client's default access manager checks the
  // server certificate's names against the host it dialled.
  factory->authenticate(true);
  return factory;
}

}  // namespace hybrec::ps
