#!/usr/bin/env bash
# The web page of `hybrec serve` in headless Chromium: opened with query
# parameters it calls the JSON API and renders the results; the rendered list
# (ranks, item ids, titles, in order) must be the API's answer to the same
# request, and a bad request must show the API's error. ctest passes
# HYBREC_BIN. Runs as root in CI, hence --no-sandbox.
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

: "${HYBREC_BIN:?set HYBREC_BIN to the hybrec binary}"
command -v chromium >/dev/null ||
  fail "chromium not found: this test renders the page in it; install Debian's chromium (scripts/setup-deps.sh)"
command -v python3 >/dev/null || fail "python3 not found"

WORK=$(mktemp -d /tmp/hybrec-web-page.XXXXXX)
server=""
cleanup() {
  local status=$?
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

# A tiny trained run (about a second).
"$HYBREC_BIN" data synth --out "$WORK/synth.h5" --users 300 --items 200 --events-per-user 15 \
  --seed 3 >"$WORK/synth.log" 2>&1 || { cat "$WORK/synth.log"; fail "hybrec data synth"; }
cat >"$WORK/train.toml" <<EOF
[data]
path = "$WORK/synth.h5"
[train]
batch_size = 64
negatives = 8
log_every_s = 60
threads = 1
max_steps = 30
eval_every = 30
EOF
"$HYBREC_BIN" train "$WORK/train.toml" --out "$WORK/run" >"$WORK/train.log" 2>&1 ||
  { cat "$WORK/train.log"; fail "hybrec train"; }

"$HYBREC_BIN" serve --run "$WORK/run" --http-port 0 --threads 2 >"$WORK/serve.log" 2>&1 &
server=$!
for _ in $(seq 600); do
  grep -q '^hybrec serve: http://' "$WORK/serve.log" && break
  kill -0 "$server" 2>/dev/null || { cat "$WORK/serve.log"; fail "hybrec serve exited before it was ready"; }
  sleep 0.1
done
port=$(sed -n 's|^hybrec serve: http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$WORK/serve.log")
[ -n "$port" ] || { cat "$WORK/serve.log"; fail "hybrec serve did not print its address"; }
base="http://127.0.0.1:$port"

# The page's DOM once its script has run (virtual time lets the fetch finish
# before the dump).
render() {
  local url=$1 out=$2
  # --disable-dev-shm-usage: containers' /dev/shm is often too small for it.
  timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-dev-shm-usage \
    --user-data-dir="$WORK/chrome" --virtual-time-budget=15000 --dump-dom "$url" \
    >"$out" 2>"$WORK/chromium.log" || { tail -20 "$WORK/chromium.log"; fail "chromium on $url"; }
}

# A query of catalogue words: two words of the title of the cold-start list's
# first item.
query=$(python3 - "$base" <<'EOF'
import json, sys, urllib.request
reply = json.load(urllib.request.urlopen(sys.argv[1] + "/recommend?k=1"))
print(" ".join(reply["items"][0]["title"].split(":")[-1].split()[:2]))
EOF
)
params=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlencode(
    {"query": sys.argv[1], "user": "7", "items": "3,17", "k": "5"}))' "$query")
render "$base/?$params" "$WORK/results.html"
render "$base/?k=0" "$WORK/error.html"

python3 - "$base" "$params" "$WORK/results.html" "$WORK/error.html" <<'EOF'
import html.parser, json, sys, urllib.error, urllib.request

base, params, results_html, error_html = sys.argv[1:]

class Page(html.parser.HTMLParser):
    """The body's data-state, the result list items and the error text."""
    def __init__(self):
        super().__init__()
        self.state, self.results, self.error = None, [], ""
        self.in_title = self.in_error = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "body":
            self.state = a.get("data-state")
        elif tag == "li" and "result" in classes:
            self.results.append({"rank": a.get("data-rank"), "item": a.get("data-item"), "title": ""})
        elif tag == "span":
            self.in_title = "title" in classes
        elif tag == "p":
            self.in_error = a.get("id") == "error"
    def handle_endtag(self, tag):
        if tag == "span":
            self.in_title = False
        elif tag == "p":
            self.in_error = False
    def handle_data(self, data):
        if self.in_title and self.results:
            self.results[-1]["title"] += data
        if self.in_error:
            self.error += data

def page(path):
    p = Page()
    with open(path) as f:
        p.feed(f.read())
    return p

def fail(why):
    print("FAIL:", why, file=sys.stderr)
    sys.exit(1)

got = page(results_html)
want = json.load(urllib.request.urlopen(base + "/recommend?" + params))
if got.state != "done":
    fail(f"the page's state is {got.state!r}, not 'done' (error: {got.error!r})")
if len(want["items"]) != 5:
    fail(f"the API answered {len(want['items'])} items for k=5")
want_items = [str(r["item"]) for r in want["items"]]
got_items = [r["item"] for r in got.results]
if got_items != want_items:
    fail(f"the page lists items {got_items}, the API answered {want_items}")
if [r["rank"] for r in got.results] != [str(i + 1) for i in range(len(want_items))]:
    fail(f"ranks {[r['rank'] for r in got.results]}")
for r, w in zip(got.results, want["items"]):
    if r["title"] != (w["title"] or "(no title)"):
        fail(f"item {w['item']}: the page shows title {r['title']!r}, the API {w['title']!r}")

bad = page(error_html)
try:
    urllib.request.urlopen(base + "/recommend?k=0")
    fail("the API accepted k=0")
except urllib.error.HTTPError as e:
    api_error = json.load(e)["error"]
if bad.state != "error" or bad.results or bad.error.strip() != api_error:
    fail(f"for k=0 the page shows state {bad.state!r}, {len(bad.results)} results, "
         f"error {bad.error!r}; the API said {api_error!r}")
print(f"the page lists the API's {len(want_items)} items in order: {' '.join(got_items)}")
EOF

kill -TERM "$server"
status=0
wait "$server" || status=$?
server=""
[ "$status" -eq 0 ] || { cat "$WORK/serve.log"; fail "hybrec serve exited $status on SIGTERM"; }
echo "PASS"
