// Importer for generic interaction files (`hybrec data import csv`).
//
// The interactions file holds one event per record: user,item[,rating]
// [,timestamp] (RFC-4180 CSV; tab-separated when the name ends in .tsv).
// Ids may be any strings. A first record is a header when its fields name
// the columns: then the columns are found by name (user*, item*/movie*/
// product*, rating*/score*, time*), so they may come in any order and other
// columns are ignored; otherwise the columns are positional. Without a
// rating column every event has rating 1; without a timestamp the record's
// position in the file orders the events.
//
// The optional text file holds item,text records (header "item,text"
// optional). Users and items are numbered densely in first-seen order in
// the interactions file; items named only in the text file follow, in
// that file's order. Then rating_threshold, the cold items, the splits and
// the text encoding apply as builder.h describes.
#pragma once

#include <string>

#include "trainer/data/builder.h"
#include "trainer/data/dataset.h"

namespace hybrec::trainer {

// text_path may be empty (no item text). The dataset is named after the
// interactions file's stem.
Dataset import_csv(const std::string& interactions_path, const std::string& text_path,
                   const ImportOptions& options = ImportOptions());

}  // namespace hybrec::trainer
