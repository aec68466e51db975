// The byte-level BPE tokenizer of GPT-2 style GGUF models
// (tokenizer.ggml.model "gpt2"; SmolLM2 is one), giving the token ids
// llama.cpp gives, and the ChatML chat prompt.
//
// encode(text):
//   1. special tokens: every control or user-defined token (token_type 3 or
//      4, e.g. <|im_start|>) written in the text becomes its id, longest
//      token first, as llama.cpp does. With parse_special off, control
//      tokens are plain text (user-defined ones are still matched, as in
//      llama.cpp).
//   2. the rest is decoded from UTF-8 and pre-tokenized by a hand-written
//      scanner equivalent to llama.cpp's regexes for tokenizer.ggml.pre:
//        "smollm" (and starcoder, refact, command-r, codeshell, exaone,
//        minerva): \p{N} first (every digit its own piece), then the GPT-2
//        expression below inside each piece;
//        "gpt2" (and mpt, olmo, jais): the GPT-2 expression alone,
//          's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      Another pre-tokenizer name is an error naming it. \p{L}, \p{N} and
//      \s come from unicode_tables.h.
//   3. each piece's UTF-8 bytes are mapped to GPT-2's printable byte
//      alphabet (bytes_to_unicode) and merged pairwise, lowest merge rank
//      first (leftmost pair on ties); a resulting symbol that is not in the
//      vocabulary falls back to one token per byte, and a byte whose symbol
//      is not in the vocabulary is dropped, as llama.cpp drops it (SmolLM2
//      lacks 21 of the 256: control bytes 0x04 0x06 0x13 0x14 0x16 0x1D,
//      and 0xC0 0xC1 0xF1 0xF2 0xF5-0xFF), so such bytes do not round-trip.
// Invalid UTF-8 in the input: each byte that does not start a well-formed
// sequence is replaced by U+FFFD before pre-tokenization, as llama.cpp does
// (its decoder is lenient: overlong forms and surrogates pass as the code
// points they spell; a 4-byte form above U+10FFFF becomes U+FFFD). So
// decode(encode(s)) == s for valid UTF-8 whose bytes all have tokens.
//
// decode(ids): normal tokens map back from the byte alphabet to bytes;
// control and user-defined tokens give their text (control ones dropped
// with skip_special). The bytes are then made valid UTF-8, each maximal
// invalid subsequence becoming U+FFFD (Python's errors="replace"), so a
// partial decode ending inside a character never fails. token_bytes gives
// the raw bytes of one token for streaming.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hybrec::text {

class GgufFile;

// `bytes` made valid UTF-8: each maximal invalid subsequence becomes U+FFFD
// (Python's errors="replace"), as decode() does.
std::string valid_utf8(std::string_view bytes);

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class BpeTokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Everything the tokenizer is built from, as the GGUF keys hold it.
struct BpeVocab {
  std::vector<std::string> tokens;   // tokenizer.ggml.tokens, byte-alphabet text, by id
  std::vector<std::string> merges;   // tokenizer.ggml.merges, "left right", by rank
  std::vector<int32_t> token_types;  // tokenizer.ggml.token_type; empty = all normal
  std::string pre = "gpt2";          // tokenizer.ggml.pre
  int32_t bos_id = -1;               // -1 = none
  int32_t eos_id = -1;
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  std::string chat_template;  // tokenizer.chat_template (Jinja); may be empty
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

class BpeTokenizer {
 public:
  // Validates the vocabulary: tokens non-empty and unique, token_types
  // empty or one per token, every merge "left right" with both halves
  // non-empty, the special ids in range, the pre-tokenizer known. Errors
  // (hybrec::Error) name the offending value.
  explicit BpeTokenizer(BpeVocab vocab);

  // Reads tokenizer.ggml.{model,tokens,merges,token_type,pre,bos_token_id,
  // eos_token_id} (required: an error names a missing key; model must be
  // "gpt2"), tokenizer.ggml.{unknown,padding}_token_id and
  // tokenizer.chat_template when present.
  static BpeTokenizer from_gguf(const GgufFile& file);

  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  // The raw bytes of one token (possibly part of a UTF-8 character);
  // control tokens give their text. Throws on an id out of range.
  std::string token_bytes(int32_t id) const;

  // The pieces step 2 cuts a text into (no special-token handling), for tests.
  std::vector<std::string> pre_tokenize(std::string_view text) const;

  // The prompt tokenizer.chat_template renders for these messages: each
  // "<|im_start|>{role}\n{content}<|im_end|>\n", preceded by the template's
  // default system message when it has one and the first message is not
  // a system message, and followed by "<|im_start|>assistant\n" when
  // add_generation_prompt. Only ChatML templates (holding <|im_start|> and
  // <|im_end|>) are recognised; another template, or none, is an error
  // naming it.
  std::string chat_prompt(const std::vector<ChatMessage>& messages,
                          bool add_generation_prompt) const;

  int32_t vocab_size() const { return static_cast<int32_t>(vocab_.tokens.size()); }
  const std::string& token_text(int32_t id) const;
  BpeTokenType token_type(int32_t id) const;
  // The id of a token by its vocabulary text, or -1.
  int32_t find_token(const std::string& text) const;
  int32_t bos_id() const { return vocab_.bos_id; }
  int32_t eos_id() const { return vocab_.eos_id; }
  int32_t unk_id() const { return vocab_.unk_id; }
  int32_t pad_id() const { return vocab_.pad_id; }
  const std::string& pre() const { return vocab_.pre; }
  const std::string& chat_template() const { return vocab_.chat_template; }

 private:
  void encode_text(std::string_view text, std::vector<int32_t>& out) const;
  void encode_piece(const std::string& mapped, std::vector<int32_t>& out) const;

  BpeVocab vocab_;
  bool digits_first_ = false;  // the \p{N} pass of "smollm" and its kin
  std::unordered_map<std::string, int32_t> ids_;
  std::unordered_map<std::string, int32_t> ranks_;  // "left right" -> rank
  std::vector<int32_t> specials_;                   // longest text first
  std::string byte_alphabet_[256];                  // byte -> its UTF-8 symbol
  std::vector<int16_t> alphabet_byte_;              // symbol code point -> byte, -1
};

}  // namespace hybrec::text
