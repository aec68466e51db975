// Probes and drops for the fuzz test; see probes.h.
#include "probes.h"

#include <thrift/TApplicationException.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#include "ParameterServer.h"
#include "parameter_server/wire/table_spec.h"
#include "parameter_server/wire/wire_convert.h"
#include "server_watch.h"
#include "wire_bytes.h"

namespace hybrec::ps::fuzz {

std::vector<int64_t> pick_keys(Rng& rng, const Snapshot& snap, int n, std::vector<int>* index) {
  std::vector<int64_t> keys(n);
  index->resize(n);
  for (int i = 0; i < n; ++i) {
    (*index)[i] = static_cast<int>(rng() % snap.keys.size());
    keys[i] = snap.keys[(*index)[i]];
  }
  return keys;
}

std::string with_non_finite(Rng& rng, int n) {
  std::string bytes = pack(random_floats(rng, static_cast<size_t>(n) * kDim));
  const uint32_t bad[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u,
                          0x7fffffffu, 0x7f800000u, 0xff800000u};
  const uint32_t v = bad[rng() % 6];
  std::memcpy(&bytes[(rng() % (static_cast<size_t>(n) * kDim)) * 4], &v, 4);
  return bytes;
}

namespace {

std::string wrong_length(Rng& rng, int n) {
  const int64_t right = int64_t{n} * kDim * 4;
  const int64_t deltas[] = {-4, 4, -1, 1, 3, -right, kDim * 4, -kDim * 4, right};
  for (;;) {
    const int64_t len = right + deltas[rng() % 9];
    if (len < 0 || len == right) continue;
    return pack(random_floats(rng, static_cast<size_t>(len / 4))) +
           std::string(static_cast<size_t>(len % 4), '\x01');
  }
}

// keys whose byte length is not a multiple of 8.
std::string ragged_keys(Rng& rng, const std::vector<int64_t>& keys) {
  return pack(keys) + random_bytes(rng, 1 + rng() % 7);
}

wire::TableSpec conflicting_spec(Rng& rng) {
  TableSpec s = items_spec();
  switch (rng() % 7) {
    case 0:
      s.dim = 32;
      break;
    case 1:
      s.dim = 8;
      break;
    case 2:
      s.learning_rate = 0.1;
      break;
    case 3:
      s.optimizer = Optimizer::kSgd;
      break;
    case 4:
      s.seed = 8;
      break;
    case 5:
      s.init_scale = 0.02;
      break;
    default:
      s.eps = 1e-7;
      break;
  }
  return to_wire(s);
}

wire::TableSpec bad_spec(Rng& rng) {
  TableSpec s = items_spec();
  s.name = "bad-spec-" + std::to_string(rng() % 1000);
  wire::TableSpec w;
  switch (rng() % 12) {
    case 0:
      s.dim = 0;
      break;
    case 1:
      s.dim = -5;
      break;
    case 2:
      s.dim = kMaxDim + 1;
      break;
    case 3:
      s.dim = INT32_MIN;
      break;
    case 4:
      s.learning_rate = std::nan("");
      break;
    case 5:
      s.learning_rate = -1;
      break;
    case 6:
      s.eps = HUGE_VAL;
      break;
    case 7:
      s.init_scale = -0.5;
      break;
    case 8:
      s.name = "";
      break;
    case 9:
      s.name = "a/../b";
      break;
    case 10:
      s.name = std::string(129, 'z');
      break;
    default:
      w = to_wire(s);
      w.__set_optimizer(static_cast<wire::Optimizer::type>(rng() % 2 == 0 ? 0 : 7));
      return w;
  }
  return to_wire(s);
}

// A valid push to the real table: it would change rows if the server ever
// processed it, which is the point of the drop probes.
std::string real_push(Rng& rng, const Snapshot& snap) {
  std::vector<int> index;
  const int n = 1 + static_cast<int>(rng() % 16);
  const std::vector<int64_t> keys = pick_keys(rng, snap, n, &index);
  const std::string grads = pack(random_floats(rng, static_cast<size_t>(n) * kDim));
  return encode([&](auto& c) { c.send_push(kTable, pack(keys), grads, 0, 0); });
}

}  // namespace

Probe make_probe(Rng& rng, const Snapshot& snap) {
  Probe p;
  std::vector<int> index;
  const int n = 1 + static_cast<int>(rng() % 32);
  const std::vector<int64_t> keys = pick_keys(rng, snap, n, &index);
  std::string message;
  switch (rng() % 16) {
    case 0:
    case 1:
      p = {"push with a NaN/Inf gradient", "", Call::kPush, 4, ""};
      message =
          encode([&](auto& c) { c.send_push(kTable, pack(keys), with_non_finite(rng, n), 0, 0); });
      break;
    case 2:
      p = {"push with grads of the wrong length", "", Call::kPush, 2, ""};
      message =
          encode([&](auto& c) { c.send_push(kTable, pack(keys), wrong_length(rng, n), 0, 0); });
      break;
    case 3: {
      p = {"push with keys not a multiple of 8 bytes", "", Call::kPush, 3, ""};
      const std::string grads = pack(random_floats(rng, static_cast<size_t>(n) * kDim));
      message = encode([&](auto& c) { c.send_push(kTable, ragged_keys(rng, keys), grads, 0, 0); });
      break;
    }
    case 4:
      p = {"assign with a NaN/Inf value", "", Call::kAssign, 4, ""};
      message =
          encode([&](auto& c) { c.send_assign(kTable, pack(keys), with_non_finite(rng, n)); });
      break;
    case 5:
      p = {"assign with rows of the wrong length", "", Call::kAssign, 2, ""};
      message = encode([&](auto& c) { c.send_assign(kTable, pack(keys), wrong_length(rng, n)); });
      break;
    case 6: {
      p = {"assign with keys not a multiple of 8 bytes", "", Call::kAssign, 3, ""};
      const std::string rows = pack(random_floats(rng, static_cast<size_t>(n) * kDim));
      message = encode([&](auto& c) { c.send_assign(kTable, ragged_keys(rng, keys), rows); });
      break;
    }
    case 7:
      p = {"pull with keys not a multiple of 8 bytes", "", Call::kPull, 3, ""};
      message = encode(
          [&](auto& c) { c.send_pull(kTable, ragged_keys(rng, keys), wire::PullMode::TRAIN); });
      break;
    case 8: {
      const char* names[] = {"items2", "Items", "", "item", "items ", "itemsitems"};
      const std::string name = names[rng() % 6];
      const std::string grads = pack(random_floats(rng, static_cast<size_t>(n) * kDim));
      p = {"push to unknown table '" + name + "'", "", Call::kPush, 1, ""};
      message = encode([&](auto& c) { c.send_push(name, pack(keys), grads, 0, 0); });
      break;
    }
    case 9:
      p = {"create_table of 'items' with another spec", "", Call::kCreateTable, 7, ""};
      message = encode([&](auto& c) { c.send_create_table(conflicting_spec(rng)); });
      break;
    case 10:
      p = {"create_table with an invalid spec", "", Call::kCreateTable, 6, ""};
      message = encode([&](auto& c) { c.send_create_table(bad_spec(rng)); });
      break;
    case 11:
      p = {"create_table of 'items' with its own spec (a no-op)", "", Call::kCreateTable, 0, ""};
      message = encode([&](auto& c) { c.send_create_table(to_wire(items_spec())); });
      break;
    case 12: {
      const int64_t version = static_cast<int64_t>(rng() % 4);
      const bool save = rng() % 2 == 0;
      const std::string& run = kBadRuns[rng() % 5];
      p = {std::string(save ? "save" : "load") + " of invalid run id '" + run.substr(0, 10) + "'",
           "", save ? Call::kSave : Call::kLoad, 11, ""};
      message = encode([&](auto& c) {
        if (save)
          c.send_save(run, version);
        else
          c.send_load(run, version);
      });
      break;
    }
    case 13: {
      const std::string names[] = {
          "pushh", "Push", "push ", "", "pus", "items", std::string("push\0", 5), "create_tablee"};
      const std::string name = names[rng() % 8];
      p = {"unknown method '" + name + "' carrying a valid push", "", Call::kHealth, kUnknownMethod,
           ""};
      message = strict_message(0x80010001u, name, message_args(real_push(rng, snap)));
      break;
    }
    case 14:
      p = {"pull of existing rows", "", Call::kPull, 0, ""};
      for (int i : index) {
        p.rows += snap.rows.substr(static_cast<size_t>(i) * kDim * 4, kDim * 4);
      }
      message = encode([&](auto& c) { c.send_pull(kTable, pack(keys), wire::PullMode::TRAIN); });
      break;
    default:
      if (rng() % 2 == 0) {
        p = {"stats", "", Call::kStats, 0, ""};
        message = encode([&](auto& c) { c.send_stats(); });
      } else {
        p = {"health", "", Call::kHealth, 0, ""};
        message = encode([&](auto& c) { c.send_health(); });
      }
      break;
  }
  p.frame = framed(message);
  return p;
}

std::string check_reply(const Probe& p, const std::string& reply) {
  auto memory = std::make_shared<at::transport::TMemoryBuffer>(
      reinterpret_cast<uint8_t*>(const_cast<char*>(reply.data())),
      static_cast<uint32_t>(reply.size()), at::transport::TMemoryBuffer::COPY);
  wire::ParameterServerClient client(std::make_shared<at::protocol::TBinaryProtocol>(
      std::make_shared<at::transport::TFramedTransport>(memory), 0, 0, true, true));
  try {
    std::string rows;
    wire::Ack ack;
    wire::PullReply pulled;
    wire::ServerStats stats;
    wire::Health health;
    switch (p.call) {
      case Call::kCreateTable:
        client.recv_create_table(ack);
        break;
      case Call::kPull:
        client.recv_pull(pulled);
        rows = pulled.rows;
        break;
      case Call::kPush:
        client.recv_push(ack);
        break;
      case Call::kAssign:
        client.recv_assign(ack);
        break;
      case Call::kSave:
        client.recv_save(ack);
        break;
      case Call::kLoad:
        client.recv_load(ack);
        break;
      case Call::kStats:
        client.recv_stats(stats);
        break;
      case Call::kHealth:
        client.recv_health(health);
        break;
    }
    if (p.error != 0) return "succeeded; expected error " + std::to_string(p.error);
    if (p.call == Call::kPull && rows != p.rows) return "returned rows that differ from before";
    if (p.call == Call::kStats && rows_of(stats, kTable) != kNumKeys) {
      return "stats report " + std::to_string(rows_of(stats, kTable)) + " rows in 'items'";
    }
    if (p.call == Call::kHealth &&
        (!health.serving || health.shard_index != 0 || health.num_shards != 1)) {
      return "health() is not 'serving shard 0/1'";
    }
    return "";
  } catch (const wire::PsError& e) {
    if (e.code == p.error) return "";
    return "PsError " + std::to_string(e.code) + " (" + e.message + "); expected " +
           std::to_string(p.error);
  } catch (const at::TApplicationException& e) {
    if (p.error == kUnknownMethod && e.getType() == at::TApplicationException::UNKNOWN_METHOD) {
      return "";
    }
    return std::string("TApplicationException: ") + e.what();
  } catch (const at::TException& e) {
    return std::string("unreadable reply: ") + e.what();
  }
}

std::pair<std::string, std::string> make_drop(Rng& rng, const Snapshot& snap) {
  const std::string push = real_push(rng, snap);
  const std::string args = message_args(push);
  switch (rng() % 8) {
    case 0:
      return {"a reply-type message", framed(strict_message(0x80010002u, "push", args))};
    case 1:
      return {"an exception-type message", framed(strict_message(0x80010003u, "push", args))};
    case 2: {
      const uint32_t types[] = {0, 5, 6, 0x7f, 0x80, 0xff};
      const uint32_t t = types[rng() % 6];
      return {"message type " + std::to_string(t),
              framed(strict_message(0x80010000u | t, "push", args))};
    }
    case 3: {
      const uint32_t versions[] = {0x80020000u, 0x80000000u, 0xffff0000u, 0x81010000u};
      return {"a wrong protocol version",
              framed(strict_message(versions[rng() % 4] | 1u, "push", args))};
    }
    case 4:  // pre-strict encoding: i32 name length, name, type byte, seqid
      return {"a non-strict (old protocol) message",
              framed(be32(4) + "push" + std::string(1, '\x01') + be32(0) + args)};
    case 5:
      return {"an unframed message", push};
    case 6: {
      const std::string f = framed(push);
      return {"a frame cut short before the client vanished",
              f.substr(0, f.size() - 1 - rng() % (f.size() - 4))};
    }
    default:
      return {"a frame announcing more bytes than it carries",
              be32(static_cast<uint32_t>(push.size() + 1 + rng() % 64)) + push};
  }
}

}  // namespace hybrec::ps::fuzz
