// Fuzz frame generation and mutation; see frames.h.
#include "frames.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "parameter_server/wire/wire_convert.h"
#include "wire_bytes.h"

namespace hybrec::ps::fuzz {

std::string fuzz_message(Rng& rng) {
  const int n = static_cast<int>(rng() % 9);
  std::vector<int64_t> keys(n);
  for (auto& k : keys) k = static_cast<int64_t>(rng());
  const std::string values = pack(random_floats(rng, static_cast<size_t>(n) * kFuzzDim));
  switch (rng() % 10) {
    case 0:
    case 1:
      return encode([&](auto& c) {
        c.send_pull(kFuzzTable, pack(keys),
                    rng() % 2 ? wire::PullMode::TRAIN : wire::PullMode::READ_ONLY);
      });
    case 2:
    case 3:
      return encode([&](auto& c) { c.send_push(kFuzzTable, pack(keys), values, 0, 0); });
    case 4:
      return encode([&](auto& c) { c.send_assign(kFuzzTable, pack(keys), values); });
    case 5:
      return encode([&](auto& c) { c.send_create_table(to_wire(fuzz_spec())); });
    case 6:
      return encode([&](auto& c) { c.send_health(); });
    case 7:
      return encode([&](auto& c) { c.send_stats(); });
    case 8:
      return encode(
          [&](auto& c) { c.send_save(kBadRuns[rng() % 5], static_cast<int64_t>(rng() % 8)); });
    default:
      return encode(
          [&](auto& c) { c.send_load(kBadRuns[rng() % 5], static_cast<int64_t>(rng() % 8)); });
  }
}

namespace {

// Integers that make parsers take unusual paths when they land on a length,
// an id or a count.
uint32_t interesting_i32(Rng& rng) {
  const uint32_t values[] = {0u,
                             1u,
                             0xffffffffu,
                             0x7fffffffu,
                             0x80000000u,
                             static_cast<uint32_t>(kMaxFrame),
                             static_cast<uint32_t>(kMaxFrame + 1),
                             65536u,
                             65537u,
                             255u,
                             256u,
                             0x10000000u,
                             0x80010001u};
  return values[rng() % (sizeof(values) / sizeof(values[0]))];
}

std::string mutate(std::string m, Rng& rng) {
  const int ops = 1 + static_cast<int>(rng() % 3);
  for (int op = 0; op < ops; ++op) {
    switch (rng() % 7) {
      case 0:  // bit flips
        for (int i = 0, n = 1 + static_cast<int>(rng() % 4); i < n && !m.empty(); ++i) {
          m[rng() % m.size()] ^= static_cast<char>(1u << (rng() % 8));
        }
        break;
      case 1: {  // byte overwrites
        const char bytes[] = {'\x00', '\xff', '\x7f', '\x80', '\x0b', '\x0c', '\x0f', '\x01'};
        for (int i = 0, n = 1 + static_cast<int>(rng() % 4); i < n && !m.empty(); ++i) {
          m[rng() % m.size()] = rng() % 2 ? bytes[rng() % 8] : static_cast<char>(rng());
        }
        break;
      }
      case 2:  // a length, count or header replaced
        if (m.size() >= 4) m.replace(rng() % (m.size() - 3), 4, be32(interesting_i32(rng)));
        break;
      case 3:  // truncation
        if (!m.empty()) m.resize(rng() % m.size());
        break;
      case 4:  // extension
        m += random_bytes(rng, 1 + rng() % 64);
        break;
      case 5:  // a slice repeated (repeated fields, nested junk)
        if (!m.empty()) {
          const size_t from = rng() % m.size();
          const size_t len = 1 + rng() % (m.size() - from);
          m.insert(rng() % (m.size() + 1), m.substr(from, len));
        }
        break;
      default:  // a slice removed
        if (!m.empty()) {
          const size_t from = rng() % m.size();
          m.erase(from, 1 + rng() % (m.size() - from));
        }
        break;
    }
  }
  return m;
}

}  // namespace

std::string fuzz_frame(Kind kind, Rng& rng) {
  switch (kind) {
    case kRandomBytes:
      return random_bytes(rng, rng() % 10 < 3 ? rng() % 4 : 4 + rng() % 252);
    case kRandomPayload: {
      const uint64_t r = rng() % 100;
      const size_t n = r < 2   ? static_cast<size_t>(kMaxFrame - rng() % (3 << 20))
                       : r < 5 ? 0
                               : 1 + rng() % 512;
      if (n > 32 && rng() % 2 == 0) {  // a valid message header, then junk arguments
        const char* methods[] = {"pull",  "push",   "assign", "create_table",
                                 "stats", "health", "save",   "load"};
        const std::string head = strict_message(0x80010001u, methods[rng() % 8], "");
        return be32(static_cast<uint32_t>(n)) + head + random_bytes(rng, n - head.size());
      }
      return be32(static_cast<uint32_t>(n)) + random_bytes(rng, n);
    }
    case kOversized: {
      const uint32_t limit = static_cast<uint32_t>(kMaxFrame);
      const uint32_t sizes[] = {limit + 1, limit * 2, 0x7fffffffu,
                                limit + 1 + static_cast<uint32_t>(rng() % (0x7fffffffu - limit))};
      return be32(sizes[rng() % 4]) + random_bytes(rng, rng() % 64);
    }
    case kNegative:
      switch (rng() % 4) {
        case 0:
          return be32(0x80000000u) + random_bytes(rng, rng() % 64);
        case 1:
          return be32(0xffffffffu) + random_bytes(rng, rng() % 64);
        case 2:
          return fuzz_message(rng);  // unframed: its version word reads as a length
        default:
          return be32(0x80000000u | static_cast<uint32_t>(rng())) + random_bytes(rng, rng() % 64);
      }
    case kTruncated: {
      const std::string f = framed(rng() % 2 ? fuzz_message(rng) : mutate(fuzz_message(rng), rng));
      return f.substr(0, rng() % f.size());
    }
    case kMutated: {
      const std::string original = fuzz_message(rng);
      const std::string m = mutate(original, rng);
      const uint64_t r = rng() % 100;
      size_t announced = m.size();
      if (r < 5) {
        announced = original.size();
      } else if (r < 15) {
        const size_t delta = 1 + rng() % 16;
        announced = rng() % 2 ? m.size() + delta : m.size() - std::min(m.size(), delta);
      }
      return be32(static_cast<uint32_t>(announced)) + m;
    }
    default:
      return framed(fuzz_message(rng));
  }
}

Kind pick_fuzz_kind(Rng& rng) {
  const uint64_t r = rng() % 100;
  if (r < 40) return kMutated;
  if (r < 48) return kValidFuzz;
  if (r < 56) return kRandomBytes;
  if (r < 72) return kRandomPayload;
  if (r < 80) return kOversized;
  if (r < 88) return kNegative;
  return kTruncated;
}

void scrub(std::string* bytes) { std::replace(bytes->begin(), bytes->end(), 'm', 'l'); }

}  // namespace hybrec::ps::fuzz
