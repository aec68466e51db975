#!/usr/bin/env bash
# hybrec-launch builds the mpirun command it promises (--dry-run: servers
# first, spread over --ps-hosts and advertising their hostfile names,
# trainers on the other hosts, the environment passed to every app context)
# and rejects bad input with exit 2 and a message naming the problem.
source "$(dirname "$0")/common.sh"

# expect_error MESSAGE ARGS...: hybrec-launch ARGS fails with exit 2 saying MESSAGE.
expect_error() {
  local message=$1 status=0 output
  shift
  output=$("$LAUNCH" "$@" 2>&1) || status=$?
  [ "$status" -eq 2 ] || fail "hybrec-launch $* exited $status, not 2: $output"
  [[ "$output" == *"$message"* ]] || fail "hybrec-launch $*: no '$message' in: $output"
}

# expect_in TEXT PART: TEXT contains PART.
expect_in() {
  [[ "$1" == *"$2"* ]] || fail "expected '$2' in: $1"
}

echo "== one machine"
out=$(HYBREC_TEST_VAR=1 "$LAUNCH" "$CONFIG" --ps 2 --trainers 3 --out "$WORK/run" --dry-run -- --set train.epochs=1)
expect_in "$out" "-np 2 $HYBREC_BIN ps --mpi --port 0 --checkpoint-dir $WORK/run/ps :"
expect_in "$out" "-np 3 $HYBREC_BIN train $CONFIG --out $WORK/run --set train.epochs=1"
# HYBREC_* reaches both app contexts (-x belongs to the context it precedes).
[ "$(grep -o -- "-x HYBREC_TEST_VAR" <<< "$out" | wc -l)" -eq 2 ] ||
  fail "HYBREC_TEST_VAR is not passed to both app contexts: $out"
expect_in "$out" "ranks 0-1: hybrec ps (shards 0-1) on this machine"
expect_in "$out" "ranks 2-4: hybrec train (trainer ranks 0-2)"
expect_in "$out" "rank R logs to $WORK/run/logs/launch-1/1/rank.R/{stdout,stderr}"
[ ! -e "$WORK/run" ] || fail "--dry-run wrote $WORK/run"
out=$("$LAUNCH" "$CONFIG" --trainers 2 --device cuda --out "$WORK/run" --dry-run)
expect_in "$out" "-np 2 $HYBREC_BIN train $CONFIG --device cuda --out $WORK/run"
mkdir -p "$WORK/run/logs/launch-1"
out=$("$LAUNCH" "$CONFIG" --out "$WORK/run" --dry-run)
expect_in "$out" "logs to $WORK/run/logs/launch-2/"

echo "== a hostfile: servers on two hosts, trainers on the rest"
printf '# test hosts\nalpha slots=2\nbeta slots=2  # second server host\ngamma slots=4\n\ndelta slots=4\n' \
  > "$WORK/hosts"
out=$("$LAUNCH" "$CONFIG" --hostfile "$WORK/hosts" --ps-hosts alpha,beta --ps 3 --trainers 4 \
  --insecure --out "$WORK/multi" --dry-run)
expect_in "$out" "-np 2 --host alpha:2 $HYBREC_BIN ps --mpi --port 0 --checkpoint-dir $WORK/multi/ps --insecure --bind 0.0.0.0 --advertise alpha"
expect_in "$out" "-np 1 --host beta:1 $HYBREC_BIN ps --mpi --port 0 --checkpoint-dir $WORK/multi/ps --insecure --bind 0.0.0.0 --advertise beta"
expect_in "$out" "-np 4 --host gamma:2,delta:2 --map-by node $HYBREC_BIN train"
expect_in "$out" "ranks 0-1: hybrec ps (shards 0-1) on alpha"
expect_in "$out" "ranks 2-2: hybrec ps (shards 2-2) on beta"
expect_in "$out" "ranks 3-6: hybrec train (trainer ranks 0-3)"
"$REPO/scripts/make-certs.sh" "$WORK/certs" alpha > /dev/null
out=$("$LAUNCH" "$CONFIG" --hostfile "$WORK/hosts" --tls "$WORK/certs" --out "$WORK/multi" --dry-run)
expect_in "$out" "--host alpha:2 $HYBREC_BIN ps"
expect_in "$out" "--tls-cert $WORK/certs/server.pem --tls-key $WORK/certs/server-key.pem --tls-ca $WORK/certs/ca.pem"
expect_in "$out" "train $CONFIG --set ps.tls_cert=$WORK/certs/client.pem"
expect_in "$out" "-np 2 --host beta:1,gamma:1,delta:1 --map-by node"

echo "== bad input"
expect_error "config '$WORK/none.toml' does not exist" "$WORK/none.toml"
expect_error "--ps '0' is not a positive integer" "$CONFIG" --ps 0
expect_error "--trainers 'x' is not a positive integer" "$CONFIG" --trainers x
expect_error "unknown option '--bogus'" "$CONFIG" --bogus
expect_error "--ps-hosts needs --hostfile" "$CONFIG" --ps-hosts a
expect_error "--device 'gpu' is neither cpu nor cuda" "$CONFIG" --device gpu
expect_error "give --tls DIR or --auth-token-file F, or --insecure" "$CONFIG" --hostfile "$WORK/hosts"
expect_error "hostfile '$WORK/nohosts' does not exist" "$CONFIG" --hostfile "$WORK/nohosts"
: > "$WORK/empty-hosts"
expect_error "names no host" "$CONFIG" --hostfile "$WORK/empty-hosts"
expect_error "--resume: $WORK/fresh has no checkpoints/latest" "$CONFIG" --out "$WORK/fresh" --resume
HYBREC_BIN=$WORK/missing expect_error "no hybrec binary" "$CONFIG"
echo "PASS"
