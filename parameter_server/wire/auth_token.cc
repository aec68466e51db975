#include "parameter_server/wire/auth_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "hybrec/kernels/error.h"

namespace hybrec::ps {

std::string read_token_file(const std::string& path) {
  struct stat st {};
  HYBREC_CHECK(::stat(path.c_str(), &st) == 0, "auth token file '", path, "' does not exist");
  HYBREC_CHECK(S_ISREG(st.st_mode), "auth token file '", path, "' is not a regular file");
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%03o", static_cast<unsigned>(st.st_mode & 0777));
  HYBREC_CHECK((st.st_mode & 077) == 0, "auth token file '", path, "' has mode ", mode,
               ": group or others may read or write it; run chmod 600 on it");
  std::ifstream in(path, std::ios::binary);
  HYBREC_CHECK(in.good(), "cannot read auth token file '", path, "'");
  std::ostringstream content;
  content << in.rdbuf();
  std::string token = content.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  HYBREC_CHECK(token.size() >= 16, "auth token file '", path, "' holds ", token.size(),
               " bytes; a token needs at least 16 (e.g. openssl rand -hex 32 > FILE)");
  return token;
}

std::string random_nonce() {
  std::string nonce(kAuthNonceBytes, '\0');
  HYBREC_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()),
                          static_cast<int>(nonce.size())) == 1,
               "RAND_bytes failed: no randomness for an authentication nonce");
  return nonce;
}

std::string auth_proof(const std::string& token, bool server, const std::string& client_nonce,
                       const std::string& server_nonce) {
  const std::string label =
      server ? std::string("hybrec-ps server\0", 17) : std::string("hybrec-ps client\0", 17);
  const std::string message = label + client_nonce + server_nonce;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HYBREC_CHECK(HMAC(EVP_sha256(), token.data(), static_cast<int>(token.size()),
                    reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest,
                    &length) != nullptr &&
                   length == kAuthProofBytes,
               "HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(digest), length);
}

bool proofs_equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace hybrec::ps
