// One interaction event of a live stream, and its wire form: one JSON object
// per line (file source) or per message (NATS):
//   {"user": 42, "item": 7, "ts": 1700000000, "text": "optional item text"}
// user and item are the dataset's ids; an id at or above the dataset's count
// is a new user or item (it gets rows on first sight); "text" is the item's
// text, given when the item is new.
#pragma once

#include <cstdint>
#include <string>

namespace hybrec::trainer {

struct StreamEvent {
  int64_t user = 0;
  int64_t item = 0;
  int64_t timestamp = 0;
  std::string item_text;  // "" = none
  uint64_t position = 0;  // set by the source (see event_source.h)
};

// The JSON line of an event (no trailing newline; position is not written).
std::string encode_event(const StreamEvent& event);

// Parses one JSON object. Throws hybrec::Error naming `where` (e.g.
// "events.jsonl line 17") and the problem: not JSON, a missing or negative
// user/item, a field of the wrong type.
StreamEvent decode_event(const std::string& line, const std::string& where);

}  // namespace hybrec::trainer
