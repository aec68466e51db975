// What `hybrec recommend` prints: a reply as a table for people or as JSON
// for scripts.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "RecommenderService.h"

namespace hybrec::launch {

// rank, item, title (at most title_width characters, "..." marking a cut),
// score, cf, text; a line above says whose list it is, and an explained
// item's sentence and [aspects] go on the line under its row.
void print_table(std::ostream& out, int64_t user, const serving::wire::RecommendReply& reply,
                 int title_width);

// {"user": .., "new_user": .., "snapshot_version": .., "items": [{"rank": ..,
// "item": .., "title": .., "score": .., "cf": .., "text": ..[, "explanation": ..,
// "aspects": [..]]}, ...]}
void print_json(std::ostream& out, int64_t user, const serving::wire::RecommendReply& reply);

// The first `width` characters of UTF-8 text (whole code points; control
// characters become spaces), with "..." in place of the rest when cut.
std::string fit_title(const std::string& text, int width);

}  // namespace hybrec::launch
