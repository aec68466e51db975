// PsService's calls with their acknowledgements unpacked, for the suites
// that drive a shard's handler in-process: pull returns its rows, the rest
// return nothing (the incarnation in each Ack is checked where it matters).
#pragma once

#include <string>
#include <vector>

#include "parameter_server/server/service.h"

namespace hybrec::ps::testing {

// The run id the in-process suites save their snapshots under.
inline constexpr const char* kTestRun = "test-run";

struct ServiceCalls {
  PsService& service;

  void create_table(const wire::TableSpec& spec) {
    wire::Ack ack;
    service.create_table(ack, spec);
  }
  void pull(std::string& rows, const std::string& table, const std::string& keys,
            wire::PullMode::type mode = wire::PullMode::TRAIN) {
    wire::PullReply reply;
    service.pull(reply, table, keys, mode);
    rows = std::move(reply.rows);
  }
  void push(const std::string& table, const std::string& keys, const std::string& grads,
            int64_t client_id, int64_t sequence) {
    wire::Ack ack;
    service.push(ack, table, keys, grads, client_id, sequence);
  }
  void push_delta(const std::string& table, const std::string& keys, const std::string& deltas,
                  int64_t client_id, int64_t sequence) {
    wire::Ack ack;
    service.push_delta(ack, table, keys, deltas, client_id, sequence);
  }
  void assign(const std::string& table, const std::string& keys, const std::string& rows) {
    wire::Ack ack;
    service.assign(ack, table, keys, rows);
  }
  void save(int64_t version, const std::string& run = kTestRun) {
    wire::Ack ack;
    service.save(ack, run, version);
  }
  void load(int64_t version, const std::string& run = kTestRun) {
    wire::Ack ack;
    service.load(ack, run, version);
  }
  void prune(const std::vector<int64_t>& keep, const std::string& run = kTestRun) {
    wire::Ack ack;
    service.prune(ack, run, keep);
  }
  void stats(wire::ServerStats& out) { service.stats(out); }
  void health(wire::Health& out) { service.health(out); }
};

}  // namespace hybrec::ps::testing
