#include "serving/http/web_page.h"

namespace hybrec::serving::http {

const std::string& web_page() {
  // One raw string, so the page ships inside the binary and needs no files.
  static const std::string page = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hybrec serve</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 52em; color: #222; }
  h1 { font-size: 1.3em; }
  form { display: flex; flex-wrap: wrap; gap: .6em; align-items: end; margin-bottom: 1.2em; }
  label { display: flex; flex-direction: column; font-size: .85em; color: #555; }
  input { font: inherit; padding: .3em .4em; }
  #query { width: 20em; }
  #user, #k { width: 6em; }
  #error { color: #b00020; white-space: pre-wrap; }
  #meta { color: #666; font-size: .85em; }
  ol { padding: 0; list-style: none; }
  li.result { display: grid; grid-template-columns: 2.5em 5em 1fr 6em 10em; gap: .6em;
              align-items: center; padding: .3em 0; border-bottom: 1px solid #eee; }
  .rank, .item, .score { font-variant-numeric: tabular-nums; }
  .item, .rank { color: #666; }
  .bar { display: flex; height: .8em; background: #f2f2f2; }
  .bar .cf { background: #3b6fd4; }
  .bar .text { background: #e08a1e; }
  .bar .new_item { background: #3aa55d; }
  .legend span { display: inline-block; width: .8em; height: .8em; margin: 0 .2em 0 .8em; }
</style>
</head>
<body data-state="idle">
<h1>hybrec serve</h1>
<form id="form">
  <label>query text <input id="query" name="query" placeholder="what are you looking for?"></label>
  <label>user <input id="user" name="user" inputmode="numeric" placeholder="none"></label>
  <label>recent items <input id="items" name="items" placeholder="e.g. 3,17,42"></label>
  <label>k <input id="k" name="k" type="number" min="1" value="10"></label>
  <button type="submit">Recommend</button>
</form>
<p class="legend" id="legend">score split:<span style="background:#3b6fd4"></span>CF
  <span style="background:#e08a1e"></span>text
  <span style="background:#3aa55d"></span>new-item boost</p>
<p id="error"></p>
<p id="meta"></p>
<ol id="results"></ol>
<script>
"use strict";
const fields = ["query", "user", "items", "k"];
const form = document.getElementById("form");

// The form's non-empty fields as GET /recommend parameters; parameters of
// the page's own URL that the form has no box for (exclude_seen, exclude)
// are passed on as they are.
function parameters() {
  const params = new URLSearchParams(window.location.search);
  for (const name of fields) {
    const value = document.getElementById(name).value.trim();
    if (value === "") params.delete(name); else params.set(name, value);
  }
  return params;
}

function cell(cls, text) {
  const span = document.createElement("span");
  span.className = cls;
  span.textContent = text;
  return span;
}

function render(reply) {
  const list = document.getElementById("results");
  list.replaceChildren();
  reply.items.forEach((r, i) => {
    const li = document.createElement("li");
    li.className = "result";
    li.id = "result-" + (i + 1);
    li.dataset.rank = String(i + 1);
    li.dataset.item = String(r.item);
    li.append(cell("rank", String(i + 1)), cell("item", "#" + r.item),
              cell("title", r.title || "(no title)"), cell("score", r.score.toFixed(4)));
    const total = Math.abs(r.cf) + Math.abs(r.text) + Math.abs(r.new_item);
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.title = "CF " + r.cf.toFixed(4) + ", text " + r.text.toFixed(4) +
                (r.new_item ? ", new-item boost " + r.new_item.toFixed(4) : "");
    for (const part of ["cf", "text", "new_item"]) {
      const piece = document.createElement("span");
      piece.className = part;
      piece.style.width = (total > 0 ? 100 * Math.abs(r[part]) / total : 0) + "%";
      bar.append(piece);
    }
    li.append(bar);
    list.append(li);
  });
  document.getElementById("meta").textContent =
      reply.items.length + " results, item matrix v" + reply.snapshot_version +
      (reply.new_user ? ", new user" : "");
}

async function submit() {
  const params = parameters();
  history.replaceState(null, "", "?" + params.toString());
  document.getElementById("error").textContent = "";
  document.body.dataset.state = "loading";
  try {
    const response = await fetch("/recommend?" + params.toString());
    const reply = await response.json();
    if (!response.ok) throw new Error(reply.error || ("HTTP " + response.status));
    render(reply);
    document.body.dataset.state = "done";
  } catch (e) {
    document.getElementById("results").replaceChildren();
    document.getElementById("error").textContent = e.message;
    document.body.dataset.state = "error";
  }
}

form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
const initial = new URLSearchParams(window.location.search);
for (const name of fields) {
  if (initial.has(name)) document.getElementById(name).value = initial.get(name);
}
if ([...initial.keys()].length > 0) submit();
</script>
</body>
</html>
)html";
  return page;
}

}  // namespace hybrec::serving::http
