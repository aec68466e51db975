// The wire contract of `hybrec serve`'s Thrift port.
//
// Versioning: WIRE_VERSION changes whenever a change below alters the bytes
// on the wire in a way an older peer cannot read (a field's id or type, a
// method's arguments). Clients read it from health() when they connect and
// refuse a server that speaks another version. tests/serving/wire_golden_test.cc
// pins the bytes of a request and of the replies, so an accidental change
// fails CI.
//
// Fields added since version 1 (ScoredItem.new_item, the explain fields)
// are ones an older peer skips, so WIRE_VERSION stays 1.
//
// Presence: the server checks that every field it needs was sent (the
// generated code would hand it zero for one left out): a call without its
// argument, or a request without k or exclude_seen, is BAD_REQUEST naming
// the field. The optional fields mean "none" when absent.
//
// Transport: framed, binary protocol (strict). A frame larger than the
// server's limit (16 MiB unless `hybrec serve` says otherwise) closes the
// connection before anything is allocated for it.

namespace cpp hybrec.serving.wire

const i32 WIRE_VERSION = 1

enum ErrorCode {
  BAD_REQUEST = 1,  // a field missing or out of range, an unknown item id: named in the message
  INTERNAL = 2,     // the server failed (e.g. the parameter servers holding user rows are down)
}

exception ServingError {
  1: ErrorCode code,
  2: string message,
}

struct RecommendRequest {
  1: optional i64 user,                 // absent or -1: no account (below -1: BAD_REQUEST)
  2: optional list<i64> recent_items,   // a session's items, oldest first
  3: optional string query,             // search text (needs a model with a text score)
  4: i64 k,                             // how many items, in [1, catalogue size]
  5: bool exclude_seen,                 // drop the user's and the session's items
  6: optional list<i64> exclude_items,  // never return these
  7: optional bool explain,             // explain the first explain_k items (absent: false)
  8: optional i64 explain_k,            // in [1, 10] (absent: 3); needs --explain-model
}

struct ScoredItem {
  1: i64 item,
  2: string title,   // the item's text ("" when it has none)
  3: double score,   // the fused score; score = cf + text + new_item
  4: double cf,      // the collaborative part
  5: double text,    // the text part
  6: double new_item, // model.new_item_boost for an item without a trained row, else 0
  7: optional string explanation,     // with explain: one sentence (first explain_k items)
  8: optional list<string> aspects,   // with explain: the aspect words it was given
}

struct RecommendReply {
  1: list<ScoredItem> items,    // best first; at most k (fewer when exclusions leave fewer)
  2: bool new_user,             // the user had no event: session and query alone
  3: i64 snapshot_version,      // the item matrix that scored it
}

struct Health {
  1: i32 wire_version,
  2: i64 snapshot_version,      // the item matrix now serving
  3: double snapshot_age_s,     // since it was built
  4: i64 num_items,             // the catalogue's size
  5: i64 rebuilds,
  6: i64 rebuild_failures,
  7: string last_error,         // of the last failed rebuild ("" = it succeeded)
}

service RecommenderService {
  Health health(),

  RecommendReply recommend(1: RecommendRequest request) throws (1: ServingError error),

  // Scored together, each answered as if alone; one bad request fails the
  // batch, naming it by its index. At most the server's batch limit (1024
  // unless `hybrec serve` says otherwise).
  list<RecommendReply> recommend_batch(1: list<RecommendRequest> requests)
      throws (1: ServingError error),
}
