// Importer for RecBole atomic files (`hybrec data import recbole DIR`,
// https://recbole.io/docs/user_guide/data/atomic_files.html).
//
// DIR holds exactly one X.inter and, optionally, X.item (same stem X; the
// dataset is named X). Both are tab-separated, one record a line, with a
// first line that names the columns as name:type, e.g.
//
//   user_id:token	item_id:token	rating:float	timestamp:float
//
// The types are RecBole's four: token, token_seq, float, float_seq. A field
// without ":type" or with another type is an error; well-typed columns the
// importer does not use are ignored. Quotes are ordinary characters: RecBole's
// converters write text unquoted, so a title such as `12" ruler` stays as it
// is (pandas, which RecBole reads with, would take a field that starts with a
// quote as quoted; such a field keeps its quotes here).
//
// X.inter: user_id:token and item_id:token are required; rating:float and
// timestamp:float are optional. Without a rating every event has rating 1;
// only events rated >= options.rating_threshold are kept (0 keeps all).
// Timestamps are seconds (a fractional part is dropped); without a timestamp
// the record's position in the file orders the events. Each user's events
// are ordered by time and events of equal time keep their file order (the
// dataset's sort is stable; Amazon's day timestamps tie often).
//
// X.item: item_id:token is required. The item's text is the tokens of its
// token_seq columns, in column order, joined with single spaces (RecBole
// splits token_seq at spaces and drops empty tokens). Only token_seq columns
// make text: other token columns are usually codes (a brand id, a category
// id) rather than words, and float columns are numbers. An item listed twice
// is an error.
//
// Users and items are numbered densely in first-seen order in X.inter;
// items named only in X.item follow, in that file's order. Then the cold
// items, the splits and the text encoding apply as builder.h describes.
//
// Errors throw hybrec::Error naming the file and the line: a missing
// required column, an unknown type, a record with a different number of
// fields than the header, a NUL or other control byte in a field, a
// malformed number, an empty id, and no kept events.
#pragma once

#include <string>

#include "trainer/data/builder.h"
#include "trainer/data/dataset.h"

namespace hybrec::trainer {

// The atomic files of a RecBole directory; item is "" when there is no X.item.
struct RecboleFiles {
  std::string name;   // the stem X
  std::string inter;  // DIR/X.inter
  std::string item;   // DIR/X.item or ""
};

// Finds the single *.inter in `dir` and its X.item. Throws naming `dir` when
// it is not a directory, holds no or several .inter files, or holds .item
// files none of which shares the .inter's stem.
RecboleFiles find_recbole_files(const std::string& dir);

Dataset import_recbole(const std::string& dir, const ImportOptions& options = ImportOptions());

}  // namespace hybrec::trainer
