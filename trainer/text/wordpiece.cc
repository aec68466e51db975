// BERT WordPiece tokenizer mirroring Hugging Face tokenizers' BertNormalizer
// (clean_text, handle_chinese_chars, strip_accents, lowercase, in that
// order), BertPreTokenizer and the WordPiece model.
#include "trainer/text/wordpiece.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "trainer/text/unicode_tables.h"

namespace hybrec::text {
namespace {

namespace uc = unicode;

constexpr char32_t kReplacement = 0xFFFD;

// Per-thread buffers reused between calls (encode_batch runs them in parallel).
struct Scratch {
  std::u32string chars;
  std::u32string normal;
  std::string word;
  std::string key;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Decodes one code point at s[i] and advances i. An ill-formed sequence
// yields U+FFFD and consumes its maximal well-formed prefix (at least one
// byte), as Python's errors="replace" and the Unicode recommendation do.
inline char32_t decode_utf8(const unsigned char* s, size_t n, size_t& i) {
  unsigned char b0 = s[i];
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  size_t need;
  char32_t cp;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    ++i;
    return kReplacement;
  }
  ++i;
  for (size_t k = 0; k < need; ++k) {
    if (i >= n) return kReplacement;
    unsigned char b = s[i];
    if (b < lo || b > hi) return kReplacement;
    lo = 0x80;
    hi = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
    ++i;
  }
  return cp;
}

inline void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// ASCII classes: 0 keep, 1 drop (control), 2 whitespace; punctuation apart.
struct AsciiTable {
  uint8_t cls[128];
  bool punct[128];
  constexpr AsciiTable() : cls(), punct() {
    for (int c = 0; c < 128; ++c) {
      cls[c] = (c < 32 || c == 127) ? 1 : 0;
      punct[c] = (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
                 (c >= 123 && c <= 126);
    }
    cls[9] = cls[10] = cls[13] = cls[32] = 2;
  }
};
constexpr AsciiTable kAscii;

// Hangul syllable decomposition (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kTCount = 28, kNCount = 588, kSCount = 11172;

inline void append_nfd(char32_t c, std::u32string& out, bool& has_marks) {
  if (c >= kSBase && c < kSBase + kSCount) {
    char32_t s = c - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const char32_t* d = nullptr;
  size_t n = uc::canonical_decomposition(c, &d);
  if (n == 0) {
    out.push_back(c);
    has_marks = has_marks || uc::combining_class(c) != 0;
    return;
  }
  for (size_t k = 0; k < n; ++k) {
    out.push_back(d[k]);
    has_marks = has_marks || uc::combining_class(d[k]) != 0;
  }
}

// Canonical ordering: a stable sort by combining class of each run of
// non-starters.
void canonical_order(std::u32string& s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    if (s[i] < 0x300 || uc::combining_class(s[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < n && s[j] >= 0x300 && uc::combining_class(s[j]) != 0) ++j;
    if (j - i > 1) {
      std::stable_sort(s.begin() + static_cast<std::ptrdiff_t>(i),
                       s.begin() + static_cast<std::ptrdiff_t>(j), [](char32_t a, char32_t b) {
                         return uc::combining_class(a) < uc::combining_class(b);
                       });
    }
    i = j;
  }
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, TokenizerOptions options)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  ids_.reserve(vocab_.size() * 2);
  for (size_t i = 0; i < vocab_.size(); ++i) {
    ids_.insert_or_assign(vocab_[i], static_cast<int32_t>(i));  // last wins, as HF
    max_token_bytes_ = std::max(max_token_bytes_, vocab_[i].size());
  }
  auto special = [&](const std::string& token, const char* what) {
    auto it = ids_.find(token);
    if (token.empty() || it == ids_.end()) {
      throw std::invalid_argument("WordPieceTokenizer: the " + std::string(what) + " token '" +
                                  token + "' is not in the vocabulary");
    }
    return it->second;
  };
  unk_id_ = special(options_.unk_token, "unknown (unk_token)");
  cls_id_ = special(options_.cls_token, "classifier (cls_token)");
  sep_id_ = special(options_.sep_token, "separator (sep_token)");
  pad_id_ = special(options_.pad_token, "padding (pad_token)");
  if (options_.max_input_chars_per_word < 1) {
    throw std::invalid_argument("WordPieceTokenizer: max_input_chars_per_word must be >= 1");
  }
  std::vector<std::string> names = {options_.unk_token, options_.cls_token, options_.sep_token,
                                    options_.pad_token};
  if (ids_.count("[MASK]")) names.push_back("[MASK]");
  for (const auto& name : names) {
    bool seen = false;
    for (const auto& s : specials_) seen = seen || s.first == name;
    if (!seen) specials_.emplace_back(name, ids_.at(name));
  }
  // Longest first, so that at one position the longest special matches.
  std::stable_sort(specials_.begin(), specials_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

WordPieceTokenizer WordPieceTokenizer::from_vocab_file(const std::string& path,
                                                       TokenizerOptions options) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    throw std::runtime_error("WordPieceTokenizer: cannot open vocabulary file '" + path +
                             "': " + std::strerror(errno));
  }
  std::string data;
  char buf[1 << 16];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, got);
  bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad) throw std::runtime_error("WordPieceTokenizer: cannot read vocabulary file '" + path + "'");
  std::vector<std::string> vocab;
  size_t pos = 0, line = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) end = data.size();
    ++line;
    std::string token = data.substr(pos, end - pos);
    if (!token.empty() && token.back() == '\r') token.pop_back();
    if (token.empty()) {
      throw std::runtime_error("WordPieceTokenizer: " + path + ":" + std::to_string(line) +
                               ": empty token in vocabulary file");
    }
    vocab.push_back(std::move(token));
    pos = end + 1;
  }
  if (vocab.empty()) {
    throw std::runtime_error("WordPieceTokenizer: vocabulary file '" + path + "' is empty");
  }
  try {
    return WordPieceTokenizer(std::move(vocab), std::move(options));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string(e.what()) + " (vocabulary file '" + path + "')");
  }
}

void WordPieceTokenizer::append_word_ids(const std::string& word, int64_t chars,
                                         std::vector<int32_t>& ids) const {
  if (chars > options_.max_input_chars_per_word) {
    ids.push_back(unk_id_);
    return;
  }
  std::string& key = scratch().key;
  const size_t n = word.size(), mark = ids.size();
  size_t start = 0;
  while (start < n) {
    const size_t prefix = start > 0 ? 2 : 0;
    if (max_token_bytes_ <= prefix) {
      ids.resize(mark);
      ids.push_back(unk_id_);
      return;
    }
    size_t end = std::min(n, start + (max_token_bytes_ - prefix));
    while (end > start && end < n && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) --end;
    int32_t found = -1;
    while (end > start) {
      if (prefix) {
        key.assign("##", 2);
        key.append(word, start, end - start);
      } else {
        key.assign(word, start, end - start);
      }
      auto it = ids_.find(key);
      if (it != ids_.end()) {
        found = it->second;
        break;
      }
      --end;
      while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) --end;
    }
    if (found < 0) {
      ids.resize(mark);
      ids.push_back(unk_id_);
      return;
    }
    ids.push_back(found);
    start = end;
  }
}

void WordPieceTokenizer::append_segment_ids(std::string_view segment,
                                            std::vector<int32_t>& ids) const {
  Scratch& s = scratch();
  std::u32string& chars = s.chars;
  chars.clear();
  const bool strip = options_.strip_accents, lower = options_.lower_case;
  const bool chinese = options_.tokenize_chinese_chars;
  bool has_marks = false;
  const auto* bytes = reinterpret_cast<const unsigned char*>(segment.data());
  const size_t n = segment.size();
  // clean_text, handle_chinese_chars, NFD.
  for (size_t i = 0; i < n;) {
    char32_t c = decode_utf8(bytes, n, i);
    if (c < 0x80) {
      uint8_t cls = kAscii.cls[c];
      if (cls == 0) chars.push_back(c);
      else if (cls == 2) chars.push_back(U' ');
      continue;  // NUL and other C0 controls dropped
    }
    if (c == kReplacement) continue;
    uint8_t f = uc::properties(c);
    if (f & uc::kControl) continue;
    if (f & uc::kWhitespace) {
      chars.push_back(U' ');
      continue;
    }
    const bool cjk = chinese && (f & uc::kCjk);
    if (cjk) chars.push_back(U' ');
    if (strip) append_nfd(c, chars, has_marks);
    else chars.push_back(c);
    if (cjk) chars.push_back(U' ');
  }
  if (has_marks) canonical_order(chars);
  // Drop non-spacing marks, lower-case.
  std::u32string* normal = &chars;
  if (strip || lower) {
    std::u32string& out = s.normal;
    out.clear();
    char32_t low[uc::kMaxLowerLength];
    for (char32_t c : chars) {
      if (c < 0x80) {
        out.push_back(lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
        continue;
      }
      if (strip && (uc::properties(c) & uc::kNonspacingMark)) continue;
      if (lower) {
        size_t k = uc::to_lower(c, low);
        out.append(low, k);
      } else {
        out.push_back(c);
      }
    }
    normal = &out;
  }
  // Pre-tokenise on whitespace and punctuation, then WordPiece each word.
  std::string& word = s.word;
  word.clear();
  int64_t word_chars = 0;
  auto flush = [&]() {
    if (word_chars > 0) append_word_ids(word, word_chars, ids);
    word.clear();
    word_chars = 0;
  };
  for (char32_t c : *normal) {
    bool space, punct;
    if (c < 0x80) {
      space = kAscii.cls[c] == 2;
      punct = kAscii.punct[c];
    } else {
      uint8_t f = uc::properties(c);
      space = f & uc::kWhitespace;
      punct = f & uc::kPunctuation;
    }
    if (space) {
      flush();
    } else if (punct) {
      flush();
      append_utf8(word, c);
      word_chars = 1;
      flush();
    } else {
      append_utf8(word, c);
      ++word_chars;
    }
  }
  flush();
}

void WordPieceTokenizer::append_piece_ids(std::string_view text, std::vector<int32_t>& ids) const {
  // Special tokens written in the text: leftmost, then longest, match.
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = std::string_view::npos;
    const std::pair<std::string, int32_t>* match = nullptr;
    for (const auto& sp : specials_) {
      size_t at = text.find(sp.first, pos);
      if (at < best) {
        best = at;
        match = &sp;
      }
    }
    if (!match) break;
    if (best > pos) append_segment_ids(text.substr(pos, best - pos), ids);
    ids.push_back(match->second);
    pos = best + match->first.size();
  }
  if (pos < text.size()) append_segment_ids(text.substr(pos), ids);
}

std::vector<std::string> WordPieceTokenizer::tokenize(std::string_view text) const {
  std::vector<int32_t> ids;
  append_piece_ids(text, ids);
  std::vector<std::string> pieces;
  pieces.reserve(ids.size());
  for (int32_t id : ids) pieces.push_back(vocab_[static_cast<size_t>(id)]);
  return pieces;
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text, int64_t max_length) const {
  if (max_length < 2) {
    throw std::invalid_argument("WordPieceTokenizer::encode: max_length must be >= 2, got " +
                                std::to_string(max_length));
  }
  std::vector<int32_t> ids;
  ids.reserve(std::min<size_t>(static_cast<size_t>(max_length), text.size() + 2));
  ids.push_back(cls_id_);
  append_piece_ids(text, ids);
  if (static_cast<int64_t>(ids.size()) > max_length - 1) ids.resize(static_cast<size_t>(max_length - 1));
  ids.push_back(sep_id_);
  return ids;
}

TokenBatch WordPieceTokenizer::encode_batch(const std::vector<std::string>& texts,
                                            int64_t max_length) const {
  if (max_length < 2) {
    throw std::invalid_argument("WordPieceTokenizer::encode_batch: max_length must be >= 2, got " +
                                std::to_string(max_length));
  }
  const auto count = static_cast<int64_t>(texts.size());
  std::vector<std::vector<int32_t>> rows(texts.size());
#pragma omp parallel for schedule(dynamic, 64) if (count >= 512)
  for (int64_t i = 0; i < count; ++i) {
    rows[static_cast<size_t>(i)] = encode(texts[static_cast<size_t>(i)], max_length);
  }
  TokenBatch batch;
  batch.size = count;
  for (const auto& r : rows) batch.max_len = std::max<int64_t>(batch.max_len, static_cast<int64_t>(r.size()));
  const auto width = static_cast<size_t>(batch.max_len);
  batch.ids.assign(texts.size() * width, pad_id_);
  batch.mask.assign(texts.size() * width, 0);
  batch.lengths.resize(texts.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    std::copy(rows[i].begin(), rows[i].end(), batch.ids.begin() + static_cast<std::ptrdiff_t>(i * width));
    std::fill_n(batch.mask.begin() + static_cast<std::ptrdiff_t>(i * width), rows[i].size(), uint8_t{1});
    batch.lengths[i] = static_cast<int64_t>(rows[i].size());
  }
  return batch;
}

int32_t WordPieceTokenizer::id_of(std::string_view token) const {
  auto it = ids_.find(std::string(token));
  return it == ids_.end() ? -1 : it->second;
}

const std::string& WordPieceTokenizer::token_of(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_.size()) {
    throw std::out_of_range("WordPieceTokenizer::token_of: id " + std::to_string(id) +
                            " is outside the vocabulary of " + std::to_string(vocab_.size()));
  }
  return vocab_[static_cast<size_t>(id)];
}

}  // namespace hybrec::text
