// A recommendation dataset in memory, and its HDF5 file (schema version 1).
//
// One HDF5 file per dataset. Layout (all integers little-endian):
//
//   /                       attributes: schema_version (int32, == kSchemaVersion),
//                           name (string), num_users (int64), num_items (int64)
//   /interactions/user      int64 [n]   user id in [0, num_users)
//   /interactions/item      int64 [n]   item id in [0, num_items)
//   /interactions/rating    float32 [n] the source's rating (1 for implicit data)
//   /interactions/timestamp int64 [n]   seconds, or any increasing order key
//   /interactions/split     uint8 [n]   Split below
//   /items/cold             uint8 [num_items]  1 = held-out cold item
//   /items/text             variable-length UTF-8 strings [num_items] ("" = none)
//   /items/text_emb         float32 [num_items, T]  optional; attribute
//                           `encoder` (string) names what wrote it ("hashing", a
//                           model name); rows are L2-normalised (a zero row =
//                           no text)
//   /users/text             variable-length UTF-8 strings [num_users], optional
//   /users/text_emb         float32 [num_users, T], optional, as /items/text_emb
//                           (hybrec embed --field users; the trainer does not
//                           read it yet)
//   /pair_text/user         int64 [p]   optional: text users wrote about items,
//   /pair_text/item         int64 [p]   one row per piece (MovieLens: per tag), in
//   /pair_text/text         variable-length UTF-8 strings [p]   source order; a
//                           (user, item) may have several rows. It is held-out
//                           text: the reference explanations are scored against
//                           (trainer/eval/explanation_references.h). Item text may
//                           repeat it (MovieLens folds tags into item text; see
//                           item_text_without_user_tags in movielens.h)
//
// Interactions are the positive (implicit) events only, sorted by user, then
// timestamp, then source file order; so each user's events are one
// contiguous, chronological run (user_offsets indexes them).
//
// Splits (leave-one-out by time, plus cold items):
//   kTrain  the events the model trains on
//   kValid  each user's second-last warm event (users with >= 3 warm events)
//   kTest   each user's last warm event (users with >= 2 warm events)
//   kCold   every event on a cold item: never trained on, not even as a
//           negative; evaluation ranks each user's last cold event
// "Warm" = an event on an item that is not cold.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hybrec::trainer {

inline constexpr int32_t kSchemaVersion = 1;

enum class Split : uint8_t { kTrain = 0, kValid = 1, kTest = 2, kCold = 3 };

struct Dataset {
  std::string name;
  int64_t num_users = 0;
  int64_t num_items = 0;

  // Interactions, sorted as described above; all the same length.
  std::vector<int64_t> user;
  std::vector<int64_t> item;
  std::vector<float> rating;
  std::vector<int64_t> timestamp;
  std::vector<Split> split;

  // [num_items] 1 = cold.
  std::vector<uint8_t> item_cold;
  // [num_items] item text, "" where none.
  std::vector<std::string> item_text;
  // [num_users] user text, or empty (no user text in this dataset).
  std::vector<std::string> user_text;

  // /pair_text: row r is text user pair_text_user[r] wrote about item
  // pair_text_item[r], in source order; all three empty when there is none.
  std::vector<int64_t> pair_text_user;
  std::vector<int64_t> pair_text_item;
  std::vector<std::string> pair_text;

  // [num_items, text_dim] row-major, or empty with text_dim == 0.
  int64_t text_dim = 0;
  std::vector<float> item_text_emb;
  std::string text_encoder;  // what wrote item_text_emb

  // [num_users, user_text_dim] row-major, or empty with user_text_dim == 0.
  int64_t user_text_dim = 0;
  std::vector<float> user_text_emb;
  std::string user_text_encoder;

  // Derived on load (and by finalize()): user u's events are
  // [user_offsets[u], user_offsets[u + 1]).
  std::vector<int64_t> user_offsets;

  int64_t num_interactions() const { return static_cast<int64_t>(user.size()); }
};

// Sorts the interactions (stable: user, timestamp, then current order),
// builds user_offsets, and checks every invariant of the schema (ids in
// range, array lengths, text_emb shape). Throws hybrec::Error naming the
// first violation, e.g. "item id 90211 out of range [0, 90000) in
// interactions at row 17".
void finalize(Dataset& dataset);

// Assigns `split` from scratch: leave-one-out by time on warm events and
// kCold on events of cold items. item_cold must be set.
void assign_splits(Dataset& dataset);

// Writes the whole dataset to `path` atomically: a temporary file in the same
// directory, flushed, fsynced, then renamed over `path`. Throws hybrec::Error
// naming the path and the failed step; `path` is untouched on failure.
void write_dataset(const Dataset& dataset, const std::string& path);

// Reads and validates a dataset file. Errors name the file and the problem:
// missing or unreadable file, schema_version other than kSchemaVersion,
// a missing dataset, a length mismatch, an id out of range (with its row).
Dataset read_dataset(const std::string& path);

enum class TextField { kItems, kUsers };

// Sets the items' (or users') text embedding table of d: [rows, text_dim]
// and the name of the encoder that made it.
void set_text_embeddings(Dataset& d, TextField field, int64_t text_dim,
                         std::vector<float> text_emb, const std::string& encoder);

// Replaces /items/text_emb or /users/text_emb (and its `encoder` attribute)
// in an existing file, atomically (the whole file is rewritten through a
// temporary name).
void write_text_embeddings(const std::string& path, int64_t text_dim,
                           const std::vector<float>& text_emb, const std::string& encoder,
                           TextField field = TextField::kItems);

}  // namespace hybrec::trainer
