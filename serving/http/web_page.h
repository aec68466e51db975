// The page `GET /` serves: a search form (query text, user, recent items, k)
// that calls GET /recommend and lists the results with rank, id, title,
// score and a bar splitting the score into its CF and text parts.
//
// Opened with query parameters (/?query=space&k=5, the names of GET
// /recommend's), it submits them at once, so a link or a headless browser
// gets the rendered list. Each result is <li class="result" data-rank="R"
// data-item="ID">; when the list is rendered, <body data-state="done">
// ("error" after a failed call, with the message in #error).
#pragma once

#include <string>

namespace hybrec::serving::http {

// Self-contained HTML (its CSS and JavaScript inline; nothing fetched but
// /recommend).
const std::string& web_page();

}  // namespace hybrec::serving::http
