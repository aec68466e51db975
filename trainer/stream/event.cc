#include "trainer/stream/event.h"

#include <nlohmann/json.hpp>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

std::string encode_event(const StreamEvent& event) {
  nlohmann::json j;
  j["user"] = event.user;
  j["item"] = event.item;
  j["ts"] = event.timestamp;
  if (!event.item_text.empty()) j["text"] = event.item_text;
  return j.dump();
}

namespace {

int64_t id_field(const nlohmann::json& j, const char* name, const std::string& where) {
  auto it = j.find(name);
  if (it == j.end()) HYBREC_THROW(where, ": event has no \"", name, "\"");
  if (!it->is_number_integer()) HYBREC_THROW(where, ": \"", name, "\" is not an integer");
  const int64_t v = it->get<int64_t>();
  if (v < 0) HYBREC_THROW(where, ": \"", name, "\" is negative (", v, ")");
  return v;
}

}  // namespace

StreamEvent decode_event(const std::string& line, const std::string& where) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) HYBREC_THROW(where, ": not a JSON object");
  StreamEvent e;
  e.user = id_field(j, "user", where);
  e.item = id_field(j, "item", where);
  if (auto it = j.find("ts"); it != j.end()) {
    if (!it->is_number_integer()) HYBREC_THROW(where, ": \"ts\" is not an integer");
    e.timestamp = it->get<int64_t>();
  }
  if (auto it = j.find("text"); it != j.end()) {
    if (!it->is_string()) HYBREC_THROW(where, ": \"text\" is not a string");
    e.item_text = it->get<std::string>();
  }
  return e;
}

}  // namespace hybrec::trainer
