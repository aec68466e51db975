# Shared by the cluster tests (tests/cluster/*_test.sh): where the binaries
# are, a scratch directory removed at exit, a small dataset, and checks on
# a run's metrics.jsonl. Source it; ctest passes HYBREC_BIN.
set -euo pipefail

CLUSTER_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$CLUSTER_TESTS/../.." && pwd)
: "${HYBREC_BIN:=$REPO/build/bin/hybrec}"
export HYBREC_BIN
LAUNCH=$REPO/launch/hybrec-launch
CONFIG=$CLUSTER_TESTS/small.toml
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# ctest's SKIP_RETURN_CODE for these tests.
skip() {
  echo "SKIP: $*"
  exit 77
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Cleanup actions run at exit, last registered first, whatever the outcome.
_cleanups=()
at_exit() { _cleanups=("$*" "${_cleanups[@]}"); }
_run_cleanups() {
  local status=$?
  for action in "${_cleanups[@]}"; do eval "$action" || true; done
  exit "$status"
}
trap _run_cleanups EXIT

[ -x "$HYBREC_BIN" ] || fail "no hybrec binary at $HYBREC_BIN"
WORK=$(mktemp -d /tmp/hybrec-cluster.XXXXXX)
if [ -z "${HYBREC_KEEP_WORK:-}" ]; then
  at_exit "rm -rf '$WORK'"
else
  echo "keeping $WORK (HYBREC_KEEP_WORK is set)"
fi

# small_dataset FILE: 600 users, 300 items (about 15,000 events).
small_dataset() {
  "$HYBREC_BIN" data synth --out "$1" --users 600 --items 300 > /dev/null
}

# test_metrics RUN: the run's final test-split evaluation lines.
test_metrics() {
  grep '"split":"test"' "$1/metrics.jsonl" || true
}

# same_test_metrics RUN_A RUN_B: fails unless both have identical test metrics.
same_test_metrics() {
  local a b
  a=$(test_metrics "$1")
  b=$(test_metrics "$2")
  [ -n "$a" ] || fail "$1 has no test metrics"
  if [ "$a" != "$b" ]; then
    echo "$1:"; echo "$a"; echo "$2:"; echo "${b:-<none>}"
    fail "$1 and $2 end with different test metrics"
  fi
}

# has_event RUN EVENT: whether metrics.jsonl has an event of that name.
has_event() {
  grep -q "\"event\":\"$2\"" "$1/metrics.jsonl" 2> /dev/null
}

# wait_for TIMEOUT_S DESCRIPTION COMMAND...: polls COMMAND every 0.1 s.
wait_for() {
  local timeout=$1 what=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${timeout}s waiting for $what"
    sleep 0.1
  done
}

# start_shard RUN I [PORT [FLAG...]]: standalone shard I of 2 with
# --checkpoint-dir RUN/ps, on PORT (default 0: a free one) and any further
# flags; prints its port. Logs to RUN/ps<I>.<n>.log (n = 1, 2, ... per start)
# and records its pid in RUN/ps<I>.pid.
start_shard() {
  local run=$1 i=$2 port=${3:-0} n=1
  shift $(($# < 3 ? $# : 3))
  while [ -e "$run/ps$i.$n.log" ]; do n=$((n + 1)); done
  local log=$run/ps$i.$n.log
  "$HYBREC_BIN" ps --port "$port" --shard "$i/2" --checkpoint-dir "$run/ps" "$@" > "$log" 2>&1 &
  echo $! > "$run/ps$i.pid"
  wait_for 30 "shard $i to serve" grep -qs "serving on" "$log"
  sed -n 's/.*serving on [^:]*:\([0-9]*\).*/\1/p' "$log" | tail -1
}

# stop_shards RUN: SIGTERM to both of RUN's shards and waits until they are
# gone (they write a final snapshot, which must not land after the scratch
# directory is removed).
stop_shards() {
  local pid
  for i in 0 1; do
    [ -f "$1/ps$i.pid" ] || continue
    pid=$(cat "$1/ps$i.pid")
    kill "$pid" 2> /dev/null || continue
    while kill -0 "$pid" 2> /dev/null; do sleep 0.1; done
  done
}
