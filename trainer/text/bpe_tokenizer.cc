#include "trainer/text/bpe_tokenizer.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "hybrec/kernels/error.h"
#include "trainer/text/gguf.h"
#include "trainer/text/unicode_tables.h"
#include "trainer/text/utf8.h"

namespace hybrec::text {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

// llama.cpp's decoder: the lead byte fixes the length and only the
// continuation bytes' top bits are checked, so overlong forms and
// surrogates pass; anything else replaces one byte with U+FFFD.
std::u32string decode_lenient(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    int len = 0;
    char32_t c = 0;
    if (b0 < 0x80) {
      len = 1, c = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2, c = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, c = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, c = b0 & 0x07;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      ok = (b & 0xC0) == 0x80;
      c = (c << 6) | (b & 0x3F);
    }
    if (!ok) {
      out += kReplacement;
      ++i;
      continue;
    }
    out += c > 0x10FFFF ? kReplacement : c;
    i += len;
  }
  return out;
}

// Valid UTF-8 of `bytes`, each maximal invalid subsequence replaced by
// U+FFFD (the Unicode "best practice" Python's errors="replace" follows).
std::string sanitize_utf8(const std::string& bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  const std::size_t n = bytes.size();
  auto at = [&](std::size_t k) { return static_cast<uint8_t>(bytes[k]); };
  while (i < n) {
    const uint8_t b0 = at(i);
    if (b0 < 0x80) {
      out += static_cast<char>(b0);
      ++i;
      continue;
    }
    int len = 0;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    }
    if (len == 0) {
      append_utf8(kReplacement, out);
      ++i;
      continue;
    }
    int good = 1;
    while (good < len && i + good < n) {
      const uint8_t b = at(i + good);
      const bool in = good == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
      if (!in) break;
      ++good;
    }
    if (good == len) {
      out.append(bytes, i, len);
    } else {
      append_utf8(kReplacement, out);
    }
    i += good;
  }
  return out;
}

bool is_space(char32_t c) { return (unicode::properties(c) & unicode::kWhitespace) != 0; }
bool is_letter(char32_t c) { return (unicode::letter_number(c) & unicode::kLetter) != 0; }
bool is_number(char32_t c) { return (unicode::letter_number(c) & unicode::kNumber) != 0; }

// The GPT-2 expression over cps[begin, end), appending [begin, end) pieces.
// Look-ahead stops at `end`, as it does in llama.cpp's hand-written split.
void split_gpt2(const std::u32string& cps, std::size_t begin, std::size_t end,
                std::vector<std::pair<std::size_t, std::size_t>>& pieces) {
  auto in = [&](std::size_t p) { return p < end; };
  auto letter = [&](std::size_t p) { return in(p) && is_letter(cps[p]); };
  auto number = [&](std::size_t p) { return in(p) && is_number(cps[p]); };
  auto space = [&](std::size_t p) { return in(p) && is_space(cps[p]); };
  auto other = [&](std::size_t p) {
    return in(p) && !is_space(cps[p]) && !is_letter(cps[p]) && !is_number(cps[p]);
  };
  std::size_t pos = begin;
  auto emit = [&](std::size_t to) {
    pieces.emplace_back(pos, to);
    pos = to;
  };
  while (pos < end) {
    const char32_t c = cps[pos];
    if (c == U'\'' && in(pos + 1)) {
      const char32_t c1 = cps[pos + 1];
      if (c1 == U's' || c1 == U't' || c1 == U'm' || c1 == U'd') {
        emit(pos + 2);
        continue;
      }
      if (in(pos + 2)) {
        const char32_t c2 = cps[pos + 2];
        if ((c1 == U'r' && c2 == U'e') || (c1 == U'v' && c2 == U'e') ||
            (c1 == U'l' && c2 == U'l')) {
          emit(pos + 3);
          continue;
        }
      }
    }
    // " ?X+" looks at the character after an optional leading space.
    const std::size_t first = c == U' ' ? pos + 1 : pos;
    if (letter(first) || number(first) || other(first)) {
      std::size_t p = first;
      if (letter(first)) {
        while (letter(p)) ++p;
      } else if (number(first)) {
        while (number(p)) ++p;
      } else {
        while (other(p)) ++p;
      }
      emit(p);
      continue;
    }
    std::size_t spaces = 0;
    while (space(pos + spaces)) ++spaces;
    // \s+(?!\S): a run followed by a non-space leaves its last space to
    // start the next piece.
    if (spaces > 1 && in(pos + spaces)) {
      emit(pos + spaces - 1);
      continue;
    }
    if (spaces > 0) {
      emit(pos + spaces);
      continue;
    }
    emit(pos + 1);
  }
}

struct PreTokenizer {
  const char* name;
  bool digits_first;
};
constexpr PreTokenizer kPreTokenizers[] = {
    {"smollm", true},    {"starcoder", true}, {"refact", true},  {"command-r", true},
    {"codeshell", true}, {"exaone", true},    {"minerva", true}, {"gpt2", false},
    {"mpt", false},      {"olmo", false},     {"jais", false},
};

std::string excerpt(const std::string& s) { return s.size() <= 80 ? s : s.substr(0, 80) + "..."; }

}  // namespace

BpeTokenizer::BpeTokenizer(BpeVocab vocab) : vocab_(std::move(vocab)) {
  const auto n = static_cast<int64_t>(vocab_.tokens.size());
  HYBREC_CHECK(n > 0, "BpeTokenizer: empty vocabulary");
  HYBREC_CHECK(n <= INT32_MAX, "BpeTokenizer: ", n, " tokens do not fit int32 ids");
  HYBREC_CHECK(vocab_.token_types.empty() || static_cast<int64_t>(vocab_.token_types.size()) == n,
               "BpeTokenizer: ", vocab_.token_types.size(), " token types for ", n, " tokens");
  const PreTokenizer* pre = nullptr;
  for (const auto& p : kPreTokenizers) {
    if (vocab_.pre == p.name) pre = &p;
  }
  HYBREC_CHECK(pre != nullptr, "BpeTokenizer: pre-tokenizer '", vocab_.pre,
               "' is not supported (known: smollm, starcoder, refact, command-r, codeshell, "
               "exaone, minerva, gpt2, mpt, olmo, jais)");
  digits_first_ = pre->digits_first;
  for (const auto& [name, id] : {std::pair<const char*, int32_t>{"bos", vocab_.bos_id},
                                 {"eos", vocab_.eos_id},
                                 {"unknown", vocab_.unk_id},
                                 {"padding", vocab_.pad_id}}) {
    HYBREC_CHECK(id >= -1 && id < n, "BpeTokenizer: ", name, " token id ", id, " out of range [0, ",
                 n, ")");
  }
  ids_.reserve(vocab_.tokens.size());
  for (int32_t id = 0; id < n; ++id) {
    const auto [it, fresh] = ids_.emplace(vocab_.tokens[id], id);
    HYBREC_CHECK(fresh, "BpeTokenizer: token ", id, " '", vocab_.tokens[id], "' repeats token ",
                 it->second);
    const BpeTokenType t = token_type(id);
    if (t == BpeTokenType::kControl || t == BpeTokenType::kUserDefined ||
        t == BpeTokenType::kUnknown) {
      if (!vocab_.tokens[id].empty()) specials_.push_back(id);
    }
  }
  std::stable_sort(specials_.begin(), specials_.end(), [&](int32_t a, int32_t b) {
    return vocab_.tokens[a].size() > vocab_.tokens[b].size();
  });
  ranks_.reserve(vocab_.merges.size());
  for (std::size_t r = 0; r < vocab_.merges.size(); ++r) {
    const std::string& m = vocab_.merges[r];
    const auto space = m.find(' ', 1);
    HYBREC_CHECK(space != std::string::npos && space + 1 < m.size(), "BpeTokenizer: merge ", r,
                 " '", m, "' is not 'left right'");
    ranks_.emplace(m, static_cast<int32_t>(r));  // a repeated merge keeps its first rank
  }
  // GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
  // the other 68 take the code points from U+0100 on, in byte order.
  alphabet_byte_.assign(256 + 68, -1);
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const char32_t c = printable ? static_cast<char32_t>(b) : next++;
    append_utf8(c, byte_alphabet_[b]);
    alphabet_byte_[c] = static_cast<int16_t>(b);
  }
}

BpeTokenizer BpeTokenizer::from_gguf(const GgufFile& file) {
  auto require = [&](const std::string& key) {
    HYBREC_CHECK(file.has(key), file.path(), ": no ", key, " (not a tokenizer-carrying GGUF?)");
  };
  for (const char* key : {"tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.merges",
                          "tokenizer.ggml.token_type", "tokenizer.ggml.pre",
                          "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"}) {
    require(key);
  }
  const std::string model = file.get_string("tokenizer.ggml.model");
  HYBREC_CHECK(model == "gpt2", file.path(), ": tokenizer.ggml.model is '", model,
               "', the byte-level BPE tokenizer reads only 'gpt2'");
  BpeVocab v;
  v.tokens = file.get_string_array("tokenizer.ggml.tokens");
  v.merges = file.get_string_array("tokenizer.ggml.merges");
  v.token_types = file.get_i32_array("tokenizer.ggml.token_type");
  v.pre = file.get_string("tokenizer.ggml.pre");
  auto id = [&](const std::string& key) {
    const uint32_t value = file.get_u32(key);
    HYBREC_CHECK(value < v.tokens.size(), file.path(), ": ", key, " ", value, " out of range [0, ",
                 v.tokens.size(), ")");
    return static_cast<int32_t>(value);
  };
  v.bos_id = id("tokenizer.ggml.bos_token_id");
  v.eos_id = id("tokenizer.ggml.eos_token_id");
  if (file.has("tokenizer.ggml.unknown_token_id")) v.unk_id = id("tokenizer.ggml.unknown_token_id");
  if (file.has("tokenizer.ggml.padding_token_id")) v.pad_id = id("tokenizer.ggml.padding_token_id");
  if (file.has("tokenizer.chat_template"))
    v.chat_template = file.get_string("tokenizer.chat_template");
  return BpeTokenizer(std::move(v));
}

const std::string& BpeTokenizer::token_text(int32_t id) const {
  HYBREC_CHECK(id >= 0 && id < vocab_size(), "BpeTokenizer: token id ", id, " out of range [0, ",
               vocab_size(), ")");
  return vocab_.tokens[id];
}

BpeTokenType BpeTokenizer::token_type(int32_t id) const {
  HYBREC_CHECK(id >= 0 && id < vocab_size(), "BpeTokenizer: token id ", id, " out of range [0, ",
               vocab_size(), ")");
  return vocab_.token_types.empty() ? BpeTokenType::kNormal
                                    : static_cast<BpeTokenType>(vocab_.token_types[id]);
}

int32_t BpeTokenizer::find_token(const std::string& text) const {
  const auto it = ids_.find(text);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<std::string> BpeTokenizer::pre_tokenize(std::string_view text) const {
  const std::u32string cps = decode_lenient(text);
  std::vector<std::pair<std::size_t, std::size_t>> pieces;
  if (digits_first_) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < cps.size(); ++i) {
      if (!is_number(cps[i])) continue;
      if (start < i) split_gpt2(cps, start, i, pieces);
      pieces.emplace_back(i, i + 1);
      start = i + 1;
    }
    if (start < cps.size()) split_gpt2(cps, start, cps.size(), pieces);
  } else {
    split_gpt2(cps, 0, cps.size(), pieces);
  }
  std::vector<std::string> out;
  out.reserve(pieces.size());
  for (const auto& [b, e] : pieces) {
    std::string s;
    for (std::size_t i = b; i < e; ++i) append_utf8(cps[i], s);
    out.push_back(std::move(s));
  }
  return out;
}

void BpeTokenizer::encode_piece(const std::string& mapped, std::vector<int32_t>& out) const {
  // One symbol per byte-alphabet character (each stands for one byte).
  struct Symbol {
    std::string text;
    int prev, next;
  };
  std::vector<Symbol> syms;
  for (std::size_t i = 0; i < mapped.size();) {
    const auto b0 = static_cast<uint8_t>(mapped[i]);
    const std::size_t len = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
    const int k = static_cast<int>(syms.size());
    syms.push_back({mapped.substr(i, len), k - 1, k + 1});
    i += len;
  }
  if (syms.empty()) return;
  syms.back().next = -1;
  struct Pair {
    int32_t rank;
    int left, right;
    std::string text;  // left + right when queued; stale if either changed
  };
  auto later = [](const Pair& a, const Pair& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  std::priority_queue<Pair, std::vector<Pair>, decltype(later)> queue(later);
  auto try_pair = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const auto it = ranks_.find(syms[left].text + " " + syms[right].text);
    if (it == ranks_.end()) return;
    queue.push({it->second, left, right, syms[left].text + syms[right].text});
  };
  for (int k = 0; k + 1 < static_cast<int>(syms.size()); ++k) try_pair(k, k + 1);
  while (!queue.empty()) {
    const Pair p = queue.top();
    queue.pop();
    Symbol& l = syms[p.left];
    Symbol& r = syms[p.right];
    if (l.next != p.right || l.text.empty() || r.text.empty() || l.text + r.text != p.text) {
      continue;
    }
    l.text = p.text;
    r.text.clear();
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = p.left;
    try_pair(l.prev, p.left);
    try_pair(p.left, l.next);
  }
  for (int k = 0; k >= 0; k = syms[k].next) {
    const auto it = ids_.find(syms[k].text);
    if (it != ids_.end()) {
      out.push_back(it->second);
      continue;
    }
    // Not in the vocabulary: one token per byte symbol; a byte with no
    // token is dropped, as llama.cpp drops it.
    const std::string& t = syms[k].text;
    for (std::size_t i = 0; i < t.size();) {
      const auto b0 = static_cast<uint8_t>(t[i]);
      const std::size_t len = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
      const auto byte = ids_.find(t.substr(i, len));
      if (byte != ids_.end()) out.push_back(byte->second);
      i += len;
    }
  }
}

void BpeTokenizer::encode_text(std::string_view text, std::vector<int32_t>& out) const {
  for (const std::string& piece : pre_tokenize(text)) {
    std::string mapped;
    for (char ch : piece) mapped += byte_alphabet_[static_cast<uint8_t>(ch)];
    encode_piece(mapped, out);
  }
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool parse_special) const {
  // Fragments of the text: plain text (id -1) or a special token.
  struct Fragment {
    int32_t id;
    std::string_view text;
  };
  std::vector<Fragment> frags{{-1, text}};
  for (int32_t id : specials_) {
    if (!parse_special && token_type(id) != BpeTokenType::kUserDefined) continue;
    const std::string& s = vocab_.tokens[id];
    std::vector<Fragment> next;
    for (const Fragment& f : frags) {
      if (f.id >= 0) {
        next.push_back(f);
        continue;
      }
      std::size_t from = 0;
      for (auto at = f.text.find(s); at != std::string_view::npos; at = f.text.find(s, from)) {
        if (at > from) next.push_back({-1, f.text.substr(from, at - from)});
        next.push_back({id, {}});
        from = at + s.size();
      }
      if (from < f.text.size()) next.push_back({-1, f.text.substr(from)});
    }
    frags = std::move(next);
  }
  std::vector<int32_t> out;
  for (const Fragment& f : frags) {
    if (f.id >= 0) {
      out.push_back(f.id);
    } else {
      encode_text(f.text, out);
    }
  }
  return out;
}

std::string BpeTokenizer::token_bytes(int32_t id) const {
  const std::string& t = token_text(id);
  const BpeTokenType type = token_type(id);
  if (type == BpeTokenType::kControl || type == BpeTokenType::kUserDefined ||
      type == BpeTokenType::kUnknown) {
    return t;
  }
  std::string out;
  for (char32_t c : decode_lenient(t)) {
    if (c < alphabet_byte_.size() && alphabet_byte_[c] >= 0) {
      out += static_cast<char>(alphabet_byte_[c]);
    } else {
      append_utf8(c, out);  // not in the byte alphabet: kept as written
    }
  }
  return out;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (skip_special && token_type(id) == BpeTokenType::kControl) continue;
    bytes += token_bytes(id);
  }
  return sanitize_utf8(bytes);
}

std::string BpeTokenizer::chat_prompt(const std::vector<ChatMessage>& messages,
                                      bool add_generation_prompt) const {
  const std::string& tpl = vocab_.chat_template;
  HYBREC_CHECK(!tpl.empty(), "BpeTokenizer: no tokenizer.chat_template to render");
  HYBREC_CHECK(
      tpl.find("<|im_start|>") != std::string::npos && tpl.find("<|im_end|>") != std::string::npos,
      "BpeTokenizer: chat template '", excerpt(tpl),
      "' is not ChatML (no <|im_start|> / <|im_end|>); only ChatML is rendered");
  // A default system message: the ChatML block the template emits under
  // "messages[0]['role'] != 'system'" (SmolLM2's "You are a helpful AI
  // assistant named SmolLM, ...").
  std::string default_system;
  bool has_default = false;
  const auto cond = tpl.find("!= 'system'");
  if (cond != std::string::npos) {
    for (const char* open : {"<|im_start|>system\n", "<|im_start|>system\\n"}) {
      const auto at = tpl.find(open, cond);
      const auto endif = tpl.find("endif", cond);
      if (at == std::string::npos || (endif != std::string::npos && at > endif)) continue;
      const auto begin = at + std::string(open).size();
      const auto end = tpl.find("<|im_end|>", begin);
      if (end == std::string::npos) continue;
      default_system = tpl.substr(begin, end - begin);
      for (auto p = default_system.find("\\n"); p != std::string::npos;
           p = default_system.find("\\n", p + 1)) {
        default_system.replace(p, 2, "\n");
      }
      has_default = true;
      break;
    }
  }
  std::string out;
  if (has_default && !messages.empty() && messages[0].role != "system") {
    out += "<|im_start|>system\n" + default_system + "<|im_end|>\n";
  }
  for (const ChatMessage& m : messages) {
    out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string valid_utf8(std::string_view bytes) { return sanitize_utf8(std::string(bytes)); }

}  // namespace hybrec::text
