// Fuzz frames for the recommender's Thrift port; see frames.h.
#include "frames.h"

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <vector>

#include "RecommenderService.h"
#include "ps/fuzz/wire_bytes.h"

namespace hybrec::serving::fuzz {

namespace {

namespace at = apache::thrift;
using ps::fuzz::be32;
using ps::fuzz::framed;

// A call as the generated client writes it, unframed.
template <typename Send>
std::string encode(Send&& send) {
  auto memory = std::make_shared<at::transport::TMemoryBuffer>();
  wire::RecommenderServiceClient client(
      std::make_shared<at::protocol::TBinaryProtocol>(memory, 0, 0, true, true));
  send(client);
  return memory->getBufferAsString();
}

std::string random_text(Rng& rng, std::size_t max_len) {
  std::string s(rng() % (max_len + 1), ' ');
  for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? rng() % 256 : 'a' + rng() % 26);
  return s;
}

std::vector<int64_t> random_items(Rng& rng) {
  std::vector<int64_t> items(rng() % 6);
  // Mostly catalogue items; now and then one out of range (BAD_REQUEST).
  for (int64_t& j : items) {
    j = rng() % 50 == 0 ? static_cast<int64_t>(rng()) : static_cast<int64_t>(rng() % kNumItems);
  }
  return items;
}

wire::RecommendRequest random_request(Rng& rng) {
  wire::RecommendRequest r;
  if (rng() % 4 != 0) r.__set_user(rng() % 10 == 0 ? static_cast<int64_t>(rng()) : rng() % 400);
  if (rng() % 2) r.__set_recent_items(random_items(rng));
  if (rng() % 4 == 0) r.__set_query(random_text(rng, 40));
  r.__set_k(rng() % 30 == 0 ? static_cast<int64_t>(rng()) : 1 + rng() % 20);
  r.__set_exclude_seen(rng() % 2 == 0);
  if (rng() % 3 == 0) r.__set_exclude_items(random_items(rng));
  return r;
}

std::string valid_call(Rng& rng, Expect* expect) {
  if (rng() % 3 == 0) {
    // Now and then one past the server's limit of 16 (BAD_REQUEST).
    std::vector<wire::RecommendRequest> batch(rng() % 20 == 0 ? 17 : rng() % 5);
    for (auto& r : batch) r = random_request(rng);
    expect->method = "recommend_batch";
    expect->batch = true;
    expect->requests = static_cast<int64_t>(batch.size());
    return encode([&](auto& c) { c.send_recommend_batch(batch); });
  }
  expect->method = "recommend";
  const wire::RecommendRequest r = random_request(rng);
  return encode([&](auto& c) { c.send_recommend(r); });
}

// The message's argument struct (after its strict header).
std::string args_of(const std::string& message) { return ps::fuzz::message_args(message); }

constexpr uint32_t kCallHeader = 0x80010001u;  // strict, version 1, T_CALL

std::string wrong_method(Rng& rng, Expect* expect) {
  const char* const names[] = {"recommendx", "Recommend", "", "recommend_batc", "health2"};
  // Random names are lowercase letters and other bytes: never one of the service's.
  const std::string name = rng() % 2 ? std::string(names[rng() % 5]) : "x" + random_text(rng, 12);
  expect->method = name;
  Expect ignored;
  return ps::fuzz::strict_message(kCallHeader, name, args_of(valid_call(rng, &ignored)));
}

std::string wrong_type(Rng& rng, Expect* expect) {
  // Type bytes: 2 bool, 8 i32, 10 i64, 11 string, 12 struct, 15 list.
  const std::string stop(1, '\0');
  const auto field = [](uint8_t type, int16_t id) {
    return std::string{static_cast<char>(type), static_cast<char>(id >> 8), static_cast<char>(id)};
  };
  const std::string k = field(10, 4) + std::string(7, '\0') + "\x05";
  const std::string seen = field(2, 5) + "\x01";
  expect->method = "recommend";
  switch (rng() % 4) {
    case 0:  // k as a string
      expect->words = "request.k is missing";
      return ps::fuzz::strict_message(
          kCallHeader, "recommend",
          field(12, 1) + field(11, 4) + be32(2) + "10" + seen + stop + stop);
    case 1:  // exclude_seen as an i32
      expect->words = "request.exclude_seen is missing";
      return ps::fuzz::strict_message(kCallHeader, "recommend",
                                      field(12, 1) + k + field(8, 5) + be32(1) + stop + stop);
    case 2:  // the request as a string
      expect->words = "the argument 'request' is missing";
      return ps::fuzz::strict_message(kCallHeader, "recommend",
                                      field(11, 1) + be32(3) + "abc" + stop);
    default:  // the batch as a struct
      expect->method = "recommend_batch";
      expect->batch = true;
      expect->words = "the argument 'requests' is missing";
      return ps::fuzz::strict_message(kCallHeader, "recommend_batch",
                                      field(12, 1) + k + seen + stop + stop);
  }
}

uint32_t huge_count(Rng& rng) {
  const uint32_t values[] = {0x7fffffffu, 0xffffffffu, 1000000u, 100000000u,
                             static_cast<uint32_t>(kMaxFrame) - 1};
  return values[rng() % 5];
}

std::string huge_length(Rng& rng) {
  const auto field = [](uint8_t type, int16_t id) {
    return std::string{static_cast<char>(type), static_cast<char>(id >> 8), static_cast<char>(id)};
  };
  const uint32_t n = huge_count(rng);
  switch (rng() % 4) {
    case 0:  // a batch of n requests
      return ps::fuzz::strict_message(kCallHeader, "recommend_batch",
                                      field(15, 1) + "\x0c" + be32(n) + "\0");
    case 1:  // n recent items
      return ps::fuzz::strict_message(kCallHeader, "recommend",
                                      field(12, 1) + field(15, 2) + "\x0a" + be32(n));
    case 2:  // a query of n bytes
      return ps::fuzz::strict_message(kCallHeader, "recommend",
                                      field(12, 1) + field(11, 3) + be32(n) + "abc");
    default:  // a method name of n bytes
      return be32(kCallHeader) + be32(n) + "recommend";
  }
}

std::string mutate(std::string m, Rng& rng) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !m.empty(); ++e) {
    const std::size_t at = rng() % m.size();
    switch (rng() % 3) {
      case 0:
        m[at] = static_cast<char>(rng());
        break;
      case 1:
        m.insert(at, 1, static_cast<char>(rng()));
        break;
      default:
        m.erase(at, 1);
    }
  }
  return m;
}

}  // namespace

Kind pick_kind(Rng& rng) {
  // About a third checked calls, the rest spread over the hostile kinds.
  const uint64_t r = rng() % 31;
  if (r < 6) return kValid;
  if (r < 8) return kWrongMethod;
  if (r < 10) return kWrongType;
  return static_cast<Kind>(kRandomBytes + (r - 10) % (kNumKinds - kRandomBytes));
}

std::string make_frame(Kind kind, Rng& rng, Expect* expect) {
  Expect ignored;
  switch (kind) {
    case kValid:
      return framed(valid_call(rng, expect));
    case kWrongMethod:
      return framed(wrong_method(rng, expect));
    case kWrongType:
      return framed(wrong_type(rng, expect));
    case kRandomBytes:
      return ps::fuzz::random_bytes(rng, rng() % 64);
    case kRandomPayload: {
      std::string payload = ps::fuzz::random_bytes(rng, rng() % 256);
      if (rng() % 2) payload = ps::fuzz::strict_message(kCallHeader, "recommend", payload);
      return framed(payload);
    }
    case kOversized:
      return be32(static_cast<uint32_t>(kMaxFrame + 1 + static_cast<int64_t>(rng() % 1000000))) +
             ps::fuzz::random_bytes(rng, 64);
    case kNegative:
      return be32(0x80000000u | static_cast<uint32_t>(rng())) + ps::fuzz::random_bytes(rng, 64);
    case kTruncated: {
      const std::string whole = framed(valid_call(rng, &ignored));
      return whole.substr(0, rng() % whole.size());
    }
    case kHugeLength:
      return framed(huge_length(rng));
    case kMutated:
    case kNumKinds:
      break;
  }
  return framed(mutate(valid_call(rng, &ignored), rng));
}

}  // namespace hybrec::serving::fuzz
