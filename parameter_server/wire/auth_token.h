// The shared-secret token of a parameter server and the challenge-response
// both ends run with it (ps.thrift: auth_begin, auth_finish). The token never
// travels: each side proves it knows the token by an HMAC-SHA256, keyed with
// the token, over both sides' fresh nonces and a label naming the side, so a
// proof recorded from one connection, or one side's proof, is worth nothing
// on another connection or for the other side.
#pragma once

#include <string>

namespace hybrec::ps {

constexpr size_t kAuthNonceBytes = 32;
constexpr size_t kAuthProofBytes = 32;  // HMAC-SHA256

// The token in `path`: the file's content without trailing newlines, at
// least 16 bytes. Throws hybrec::Error naming the path when it cannot be
// read, is empty or short, or is readable or writable by group or others
// (it must be chmod 600 or stricter, as ssh demands of its keys).
std::string read_token_file(const std::string& path);

// kAuthNonceBytes from OpenSSL's CSPRNG.
std::string random_nonce();

// What the server (server = true) or the client proves:
// HMAC-SHA256(token, "hybrec-ps server\0" | "hybrec-ps client\0" +
// client_nonce + server_nonce).
std::string auth_proof(const std::string& token, bool server, const std::string& client_nonce,
                       const std::string& server_nonce);

// Constant-time comparison of two proofs.
bool proofs_equal(const std::string& a, const std::string& b);

}  // namespace hybrec::ps
