// The BERT WordPiece tokenizer, as Hugging Face's BertTokenizerFast does it:
//   normalise: drop NUL, U+FFFD and control characters, every whitespace
//              character becomes a space, each CJK ideograph gets spaces
//              around it, accents stripped (NFD, then combining marks
//              dropped) and lower-cased, as configured;
//   split:     on whitespace, and every punctuation character (Unicode P*,
//              plus the ASCII symbols BERT counts as punctuation) is a token;
//   wordpiece: greedy longest match against the vocabulary, continuations
//              prefixed "##"; a word with no match, or longer than
//              max_input_chars_per_word characters, becomes [UNK];
//   encode:    [CLS] pieces [SEP], the pieces truncated so the whole fits
//              max_length.
// Input is UTF-8; an invalid byte sequence decodes to U+FFFD (then dropped
// by the normaliser), as Python's errors="replace" does. As in the fast
// tokenizer, the special tokens ([UNK], [CLS], [SEP], [PAD] of the options,
// and [MASK] when the vocabulary has it) written literally in the text are
// matched before normalisation and kept as single tokens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hybrec::text {

struct TokenizerOptions {
  bool lower_case = true;
  bool strip_accents = true;  // tokenizer_config "strip_accents": null means = lower_case
  bool tokenize_chinese_chars = true;
  std::string unk_token = "[UNK]";
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  int64_t max_input_chars_per_word = 100;
};

// A batch of encoded texts padded to its longest: ids and mask [size, max_len]
// row-major; mask 1 = real token, 0 = padding (ids there are pad_id).
struct TokenBatch {
  int64_t size = 0;
  int64_t max_len = 0;
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;
  std::vector<int64_t> lengths;  // real tokens per text, [CLS] and [SEP] included
};

class WordPieceTokenizer {
 public:
  // vocab: one token per id (vocab.txt order). Throws when a special token
  // of the options is missing from it.
  WordPieceTokenizer(std::vector<std::string> vocab, TokenizerOptions options);
  // Reads vocab.txt (one token per line; errors name the file and line).
  static WordPieceTokenizer from_vocab_file(const std::string& path, TokenizerOptions options);

  // The word pieces of text, without [CLS]/[SEP] and untruncated.
  std::vector<std::string> tokenize(std::string_view text) const;
  // [CLS] ids [SEP], at most max_length (>= 2) ids in all.
  std::vector<int32_t> encode(std::string_view text, int64_t max_length) const;
  TokenBatch encode_batch(const std::vector<std::string>& texts, int64_t max_length) const;

  int32_t id_of(std::string_view token) const;  // -1 when not in the vocabulary
  const std::string& token_of(int32_t id) const;
  int64_t vocab_size() const { return static_cast<int64_t>(vocab_.size()); }
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  const TokenizerOptions& options() const { return options_; }

 private:
  // Appends the word-piece ids of text (no [CLS]/[SEP]) to ids.
  void append_piece_ids(std::string_view text, std::vector<int32_t>& ids) const;
  void append_segment_ids(std::string_view segment, std::vector<int32_t>& ids) const;
  void append_word_ids(const std::string& word, int64_t chars, std::vector<int32_t>& ids) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<std::pair<std::string, int32_t>> specials_;  // matched in raw text
  size_t max_token_bytes_ = 0;
  TokenizerOptions options_;
  int32_t cls_id_ = -1, sep_id_ = -1, pad_id_ = -1, unk_id_ = -1;
};

}  // namespace hybrec::text
