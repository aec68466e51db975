// RUN_DIR/online/new_items.jsonl: the items an online run met after its
// dataset, one JSON line each, {"item": id, "text": "...", "emb": [floats]}
// (emb: the item's text vector, [] without text vectors), so serving can
// rank them before anyone clicked them. Rank 0 appends an item's line, and
// flushes and fsyncs it, before that item's first push.
//
// A checkpoint records how many lines belong to it (TrainerState::
// stream_new_items); a run resumed from it first drops the lines a killed
// run wrote after it, so every item stands once in the file.
#pragma once

#include <cstdint>
#include <string>

namespace hybrec::trainer {

class NewItemsLog {
 public:
  // Opens RUN_DIR/online/new_items.jsonl (created with its folder when
  // missing) keeping its first `keep` lines: when it holds more, the file
  // is replaced atomically by those; when it holds fewer, throws naming the
  // file and both counts.
  NewItemsLog(const std::string& run_dir, int64_t keep);
  ~NewItemsLog();
  NewItemsLog(const NewItemsLog&) = delete;
  NewItemsLog& operator=(const NewItemsLog&) = delete;

  // Appends one item's line; durable when it returns.
  void append(int64_t item, const std::string& text, const float* emb, int64_t dim);

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace hybrec::trainer
