// Bytes and framing for the fuzz test; see wire_bytes.h.
#include "wire_bytes.h"

namespace hybrec::ps::fuzz {

std::string be32(uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  return std::string(b, 4);
}

std::string framed(const std::string& message) {
  return be32(static_cast<uint32_t>(message.size())) + message;
}

std::string random_bytes(Rng& rng, size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

std::vector<float> random_floats(Rng& rng, size_t n) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> out(n);
  for (float& v : out) v = u(rng);
  return out;
}

std::string message_args(const std::string& message) {
  const std::string len = message.substr(4, 4);
  const uint32_t n = (static_cast<uint8_t>(len[0]) << 24) | (static_cast<uint8_t>(len[1]) << 16) |
                     (static_cast<uint8_t>(len[2]) << 8) | static_cast<uint8_t>(len[3]);
  return message.substr(12 + n);
}

std::string strict_message(uint32_t version_and_type, const std::string& name,
                           const std::string& args) {
  return be32(version_and_type) + be32(static_cast<uint32_t>(name.size())) + name + be32(0) + args;
}

}  // namespace hybrec::ps::fuzz
