#!/usr/bin/env python3
"""Generates trainer/text/unicode_tables.cc, the Unicode data the BERT
WordPiece tokenizer (trainer/text/wordpiece.cc) needs, from Python's
unicodedata.  The declarations live in the hand-written unicode_tables.h.

    python3 scripts/gen_unicode_tables.py [output.cc]

Tables (all sorted, looked up by binary search):
  * kPropRanges: [start, flags] runs covering U+0000..U+10FFFF, flags being
    CONTROL (Cc, Cf, Co, Cs, minus \\t \\n \\r), WHITESPACE (White_Space),
    PUNCT (P*, plus BERT's ASCII symbols 33-47, 58-64, 91-96, 123-126),
    CJK (BERT's CJK ideograph blocks, as Hugging Face tokenizers spells them)
    and NONSPACING_MARK (Mn).
  * kCombiningClass: [first, last, ccc] for every non-zero canonical
    combining class (canonical ordering after decomposition).
  * kDecomp*: the full canonical decomposition (NFD) of each code point that
    has one, Hangul syllables excepted (algorithmic, done in code).
  * kLower*: str.lower() of each single code point, as delta runs, plus the
    few that lower-case to several code points.
  * kClassRanges: [start, class] runs, class being LETTER (L*) or NUMBER
    (N*), the \\p{L} and \\p{N} of the GPT-2 pre-tokenizer regex the byte-level
    BPE tokenizer (trainer/text/bpe_tokenizer.cc) scans by hand.  These use
    this Python's categories as they are (llama.cpp's unicode-data.cpp does
    the same with its own Unicode version), no Unicode 8.0 overrides.

Hugging Face tokenizers classifies control, punctuation and non-spacing
marks with the Rust crate unicode_categories, whose tables are Unicode 8.0,
while its NFD and lower-casing are current.  To give the same tokens, the
categories of code points that were unassigned (or categorised differently)
in Unicode 8.0 are overridden below; the lists were found by comparing every
code point with tokenizers 0.23 (BertNormalizer / BertPreTokenizer).
"""
import sys
import unicodedata as ud

CONTROL, WHITESPACE, PUNCT, CJK, NONSPACING_MARK = 1, 2, 4, 8, 16
LETTER, NUMBER = 1, 2

# PropList.txt White_Space (what Rust's char::is_whitespace tests).
WHITE_SPACE = [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
               (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
               (0x3000, 0x3000)]
# BERT's "CJK Unified Ideographs" blocks as tokenizers' BertNormalizer has
# them (note 0x2B920, not 0x2B820, as the start of the fifth).
CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]

# Unicode 8.0 categories (unicode_categories crate) where they differ from
# this Python's: Cf / Mn / P* code points newer than 8.0 and three changes.
NOT_CONTROL_U8 = [(0x0890, 0x0891), (0x08E2, 0x08E2), (0x110CD, 0x110CD), (0x13430, 0x13438)]
NOT_MN_U8 = [
    (0x07FD, 0x07FD), (0x0898, 0x089F), (0x08CA, 0x08E1), (0x09FE, 0x09FE), (0x0AFA, 0x0AFF),
    (0x0B55, 0x0B55), (0x0C04, 0x0C04), (0x0C3C, 0x0C3C), (0x0D00, 0x0D00), (0x0D3B, 0x0D3C),
    (0x0D81, 0x0D81), (0x0EBA, 0x0EBA), (0x180F, 0x180F), (0x1885, 0x1886), (0x1ABF, 0x1ACE),
    (0x1DF6, 0x1DFB), (0xA82C, 0xA82C), (0xA8C5, 0xA8C5), (0xA8FF, 0xA8FF), (0xA9BD, 0xA9BD),
    (0x10D24, 0x10D27), (0x10EAB, 0x10EAC), (0x10F46, 0x10F50), (0x10F82, 0x10F85),
    (0x11070, 0x11070), (0x11073, 0x11074), (0x110C2, 0x110C2), (0x111C9, 0x111C9),
    (0x111CF, 0x111CF), (0x1123E, 0x1123E), (0x1133B, 0x1133B), (0x11438, 0x1143F),
    (0x11442, 0x11444), (0x11446, 0x11446), (0x1145E, 0x1145E), (0x1182F, 0x11837),
    (0x11839, 0x1183A), (0x1193B, 0x1193C), (0x1193E, 0x1193E), (0x11943, 0x11943),
    (0x119D4, 0x119D7), (0x119DA, 0x119DB), (0x119E0, 0x119E0), (0x11A01, 0x11A0A),
    (0x11A33, 0x11A38), (0x11A3B, 0x11A3E), (0x11A47, 0x11A47), (0x11A51, 0x11A56),
    (0x11A59, 0x11A5B), (0x11A8A, 0x11A96), (0x11A98, 0x11A99), (0x11C30, 0x11C36),
    (0x11C38, 0x11C3D), (0x11C3F, 0x11C3F), (0x11C92, 0x11CA7), (0x11CAA, 0x11CB0),
    (0x11CB2, 0x11CB3), (0x11CB5, 0x11CB6), (0x11D31, 0x11D36), (0x11D3A, 0x11D3A),
    (0x11D3C, 0x11D3D), (0x11D3F, 0x11D45), (0x11D47, 0x11D47), (0x11D90, 0x11D91),
    (0x11D95, 0x11D95), (0x11D97, 0x11D97), (0x11EF3, 0x11EF4), (0x16F4F, 0x16F4F),
    (0x16FE4, 0x16FE4), (0x1CF00, 0x1CF2D), (0x1CF30, 0x1CF46), (0x1E000, 0x1E006),
    (0x1E008, 0x1E018), (0x1E01B, 0x1E021), (0x1E023, 0x1E024), (0x1E026, 0x1E02A),
    (0x1E130, 0x1E136), (0x1E2AE, 0x1E2AE), (0x1E2EC, 0x1E2EF), (0x1E944, 0x1E94A)]
MN_U8 = [(0x1734, 0x1734)]  # Mc since Unicode 14
NOT_PUNCT_U8 = [
    (0x061D, 0x061D), (0x09FD, 0x09FD), (0x0A76, 0x0A76), (0x0C77, 0x0C77), (0x0C84, 0x0C84),
    (0x1B7D, 0x1B7E), (0x2E43, 0x2E4F), (0x2E52, 0x2E5D), (0x10EAD, 0x10EAD),
    (0x10F55, 0x10F59), (0x10F86, 0x10F89), (0x1144B, 0x1144F), (0x1145A, 0x1145B),
    (0x1145D, 0x1145D), (0x11660, 0x1166C), (0x116B9, 0x116B9), (0x1183B, 0x1183B),
    (0x11944, 0x11946), (0x119E2, 0x119E2), (0x11A3F, 0x11A46), (0x11A9A, 0x11A9C),
    (0x11A9E, 0x11AA2), (0x11C41, 0x11C45), (0x11C70, 0x11C71), (0x11EF7, 0x11EF8),
    (0x11FFF, 0x11FFF), (0x12FF1, 0x12FF2), (0x16E97, 0x16E9A), (0x16FE2, 0x16FE2),
    (0x1E95E, 0x1E95F)]
PUNCT_U8 = [(0x166D, 0x166D), (0x111C9, 0x111C9)]  # So, Mn since


def in_ranges(c, ranges):
    return any(a <= c <= b for a, b in ranges)


def expand(ranges):
    return {c for a, b in ranges for c in range(a, b + 1)}


def flags_of_all():
    not_control, not_mn, mn = expand(NOT_CONTROL_U8), expand(NOT_MN_U8), expand(MN_U8)
    not_punct, punct = expand(NOT_PUNCT_U8), expand(PUNCT_U8)
    ws, cjk = expand(WHITE_SPACE), expand(CJK_RANGES)
    out = []
    for c in range(0x110000):
        cat = ud.category(chr(c))
        f = 0
        if cat in ("Cc", "Cf", "Co", "Cs") and c not in (9, 10, 13) and c not in not_control:
            f |= CONTROL
        if c in ws:
            f |= WHITESPACE
        is_p = (cat.startswith("P") or 33 <= c <= 47 or 58 <= c <= 64 or 91 <= c <= 96
                or 123 <= c <= 126)
        if (is_p and c not in not_punct) or c in punct:
            f |= PUNCT
        if c in cjk:
            f |= CJK
        if (cat == "Mn" and c not in not_mn) or c in mn:
            f |= NONSPACING_MARK
        out.append(f)
    return out


def full_decomposition(c):
    """Full canonical decomposition of one code point (Hangul excluded)."""
    if 0xAC00 <= c <= 0xD7A3 or 0xD800 <= c <= 0xDFFF:
        return None
    d = ud.normalize("NFD", chr(c))
    if d == chr(c):
        return None
    return [ord(x) for x in d]


def hexs(c):
    return "0x%04X" % c


def rows(items, per_line):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append("    " + " ".join(items[i:i + per_line]))
    return "\n".join(lines)


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else "trainer/text/unicode_tables.cc"
    flags = flags_of_all()
    prop = []
    for c, f in enumerate(flags):
        if not prop or prop[-1][1] != f:
            prop.append((c, f))

    classes = []
    for c in range(0x110000):
        cat = ud.category(chr(c))
        k = LETTER if cat.startswith("L") else NUMBER if cat.startswith("N") else 0
        if not classes or classes[-1][1] != k:
            classes.append((c, k))

    ccc = []
    for c in range(0x110000):
        k = ud.combining(chr(c))
        if k == 0:
            continue
        if ccc and ccc[-1][1] == c - 1 and ccc[-1][2] == k:
            ccc[-1][1] = c
        else:
            ccc.append([c, c, k])

    decomp_keys, decomp_index, pool = [], [], []
    for c in range(0x110000):
        d = full_decomposition(c)
        if d is None:
            continue
        decomp_keys.append(c)
        decomp_index.append((len(pool), len(d)))
        pool.extend(d)

    # Lower-casing: single code point maps as runs [first, count, stride, delta].
    single, multi = [], []
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        low = chr(c).lower()
        if low == chr(c):
            continue
        if len(low) == 1:
            single.append((c, ord(low) - c))
        else:
            multi.append((c, [ord(x) for x in low]))
    runs = []  # [first, count, stride, delta]
    for c, delta in single:
        if runs:
            first, count, stride, d = runs[-1]
            last = first + (count - 1) * stride
            if d == delta and count == 1 and c - first in (1, 2):
                runs[-1] = [first, 2, c - first, d]
                continue
            if d == delta and count > 1 and c == last + stride:
                runs[-1][1] += 1
                continue
        runs.append([c, 1, 1, delta])
    multi_pool, multi_index = [], []
    for c, seq in multi:
        multi_index.append((c, len(multi_pool), len(seq)))
        multi_pool.extend(seq)

    o = []
    o.append("// generated by scripts/gen_unicode_tables.py; do not edit.")
    o.append("// Unicode %s (Python %d.%d unicodedata), with Unicode 8.0 categories"
             % (ud.unidata_version, sys.version_info[0], sys.version_info[1]))
    o.append("// for control / punctuation / non-spacing marks, as Hugging Face tokenizers.")
    o.append('#include "trainer/text/unicode_tables.h"')
    o.append("")
    o.append("#include <algorithm>")
    o.append("#include <cstdint>")
    o.append("#include <iterator>")
    o.append("")
    o.append("namespace hybrec::text::unicode {")
    o.append("namespace {")
    o.append("")
    o.append("struct PropRange { uint32_t start; uint8_t flags; };")
    o.append("constexpr PropRange kPropRanges[%d] = {" % len(prop))
    o.append(rows(["{%s, %d}," % (hexs(c), f) for c, f in prop], 6))
    o.append("};")
    o.append("")
    o.append("struct CccRange { uint32_t first, last; uint8_t ccc; };")
    o.append("constexpr CccRange kCombiningClass[%d] = {" % len(ccc))
    o.append(rows(["{%s, %s, %d}," % (hexs(a), hexs(b), k) for a, b, k in ccc], 4))
    o.append("};")
    o.append("")
    o.append("constexpr uint32_t kDecompKeys[%d] = {" % len(decomp_keys))
    o.append(rows(["%s," % hexs(c) for c in decomp_keys], 10))
    o.append("};")
    o.append("// [offset into kDecompPool, length] per key")
    o.append("constexpr uint16_t kDecompIndex[%d][2] = {" % len(decomp_index))
    o.append(rows(["{%d, %d}," % x for x in decomp_index], 10))
    o.append("};")
    o.append("constexpr char32_t kDecompPool[%d] = {" % len(pool))
    o.append(rows(["%s," % hexs(c) for c in pool], 10))
    o.append("};")
    o.append("")
    o.append("struct LowerRun { uint32_t first; uint16_t count; uint8_t stride; int32_t delta; };")
    o.append("constexpr LowerRun kLowerRuns[%d] = {" % len(runs))
    o.append(rows(["{%s, %d, %d, %d}," % (hexs(a), n, s, d) for a, n, s, d in runs], 4))
    o.append("};")
    o.append("struct LowerMulti { uint32_t cp; uint8_t offset, length; };")
    o.append("constexpr LowerMulti kLowerMulti[%d] = {" % len(multi_index))
    o.append(rows(["{%s, %d, %d}," % (hexs(c), off, n) for c, off, n in multi_index], 4))
    o.append("};")
    o.append("constexpr char32_t kLowerMultiPool[%d] = {" % len(multi_pool))
    o.append(rows(["%s," % hexs(c) for c in multi_pool], 10))
    o.append("};")
    o.append("")
    o.append("struct ClassRange { uint32_t start; uint8_t cls; };")
    o.append("constexpr ClassRange kClassRanges[%d] = {" % len(classes))
    o.append(rows(["{%s, %d}," % (hexs(c), k) for c, k in classes], 6))
    o.append("};")
    o.append("")
    o.append("}  // namespace")
    o.append("")
    o.append('const char* const kUnicodeVersion = "%s";' % ud.unidata_version)
    o.append("")
    o.append("""uint8_t properties(char32_t c) {
  if (c > 0x10FFFF) return 0;
  auto it = std::upper_bound(std::begin(kPropRanges), std::end(kPropRanges), uint32_t(c),
                             [](uint32_t v, const PropRange& r) { return v < r.start; });
  return std::prev(it)->flags;
}

uint8_t letter_number(char32_t c) {
  if (c > 0x10FFFF) return 0;
  auto it = std::upper_bound(std::begin(kClassRanges), std::end(kClassRanges), uint32_t(c),
                             [](uint32_t v, const ClassRange& r) { return v < r.start; });
  return std::prev(it)->cls;
}

uint8_t combining_class(char32_t c) {
  auto it = std::upper_bound(std::begin(kCombiningClass), std::end(kCombiningClass), uint32_t(c),
                             [](uint32_t v, const CccRange& r) { return v < r.first; });
  if (it == std::begin(kCombiningClass)) return 0;
  --it;
  return c <= it->last ? it->ccc : 0;
}

size_t canonical_decomposition(char32_t c, const char32_t** out) {
  auto it = std::lower_bound(std::begin(kDecompKeys), std::end(kDecompKeys), uint32_t(c));
  if (it == std::end(kDecompKeys) || *it != c) return 0;
  const auto& idx = kDecompIndex[it - std::begin(kDecompKeys)];
  *out = kDecompPool + idx[0];
  return idx[1];
}

size_t to_lower(char32_t c, char32_t out[kMaxLowerLength]) {
  auto it = std::upper_bound(std::begin(kLowerRuns), std::end(kLowerRuns), uint32_t(c),
                             [](uint32_t v, const LowerRun& r) { return v < r.first; });
  if (it != std::begin(kLowerRuns)) {
    const LowerRun& r = *std::prev(it);
    uint32_t off = uint32_t(c) - r.first;
    if (off % r.stride == 0 && off / r.stride < r.count) {
      out[0] = char32_t(int32_t(c) + r.delta);
      return 1;
    }
  }
  auto m = std::lower_bound(std::begin(kLowerMulti), std::end(kLowerMulti), uint32_t(c),
                            [](const LowerMulti& e, uint32_t v) { return e.cp < v; });
  if (m != std::end(kLowerMulti) && m->cp == c) {
    for (size_t i = 0; i < m->length; ++i) out[i] = kLowerMultiPool[m->offset + i];
    return m->length;
  }
  out[0] = c;
  return 1;
}""")
    o.append("")
    o.append("}  // namespace hybrec::text::unicode")
    text = "\n".join(o) + "\n"
    assert max(len(s) for _, s in multi) <= 3 if multi else True
    assert len(pool) < 65536
    with open(out_path, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    print("%s: %d bytes; %d property runs, %d class runs, %d ccc runs, %d decompositions, %d lower runs, "
          "%d multi" % (out_path, len(text), len(prop), len(classes), len(ccc), len(decomp_keys),
                        len(runs), len(multi)))


if __name__ == "__main__":
    main()
