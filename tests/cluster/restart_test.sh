#!/usr/bin/env bash
# Finding 2 of the integrity review: a standalone shard with a periodic
# `latest` (--checkpoint-every), killed with -9 and restarted with the same
# arguments, comes back with rows older than the other shard's. Two trainer
# ranks under mpirun (sync mode, one seed) against two such shards:
#   1. ps.on_restart = "stop" (the default): the trainers exit non-zero
#      naming the shard, its address and the restart, nothing of the job is
#      left running, and no checkpoint is written after the restart;
#   2. ps.on_restart = "rewind": every rank rewinds to checkpoints/latest
#      and the run ends with exactly the test metrics and dense parameters
#      of the same run without the fault.
# Shard 0 is the one killed (any shard restores its own `latest`, whatever
# version shard 0's manifest names: tests/ps/checkpoint_test.cc,
# LatestIsEachShardsOwnClockButNeverMixed).
source "$(dirname "$0")/common.sh"
command -v mpirun > /dev/null || skip "mpirun not found"

data=$WORK/small.h5
small_dataset "$data"
# About 380 steps on 2 ranks, a checkpoint every 20; retries cover a
# restart that is slow to come up on a loaded machine (about 13 s).
train_args=(--data "$data" --set train.epochs=10 --set train.patience=0
            --set ps.retry_attempts=12)

# shard RUN I [PORT]: shard I of 2 with a periodic latest every 0.5 s.
shard() { start_shard "$1" "$2" "${3:-0}" --checkpoint-every 0.5; }
# trainers RUN PORT0 PORT1 [train args...]: 2 sync trainer ranks.
trainers() {
  local run=$1 p0=$2 p1=$3
  shift 3
  mpirun --oversubscribe -np 2 "$HYBREC_BIN" train "$CONFIG" --out "$run" \
    --ps "127.0.0.1:$p0,127.0.0.1:$p1" --ps-dir "$run/ps" "${train_args[@]}" "$@"
}
# no_processes_left RUN: no trainer of RUN survives (polls 10 s).
no_processes_left() {
  local deadline=$((SECONDS + 10))
  while pgrep -f -- "train $CONFIG --out $1" > /dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || fail "trainer processes of $1 are still running"
    sleep 0.2
  done
}
checkpoints_logged() { grep -c '"event":"checkpoint"' "$1/metrics.jsonl" || true; }
params_line() { grep '"event":"params"' "$1/metrics.jsonl" || true; }

# kill_and_restart_shard0 RUN PORT0: once the run has a checkpoint after
# step 0 and shard 0 has written a periodic latest after it, kill -9 shard 0
# and restart it on the same port with the same flags; it must say it
# restored its latest. Leaves RUN/restarted (touched just after the restart)
# and $checkpoints_before (checkpoint events logged before the restart).
kill_and_restart_shard0() {
  local run=$1 port=$2
  wait_for 120 "a checkpoint of $run after step 0" \
    grep -qs '"event":"checkpoint","step":[1-9]' "$run/metrics.jsonl"
  touch "$run/checkpointed"
  wait_for 30 "a periodic latest of shard 0 after that checkpoint" \
    test "$run/ps/latest/MANIFEST" -nt "$run/checkpointed"
  kill -KILL "$(cat "$run/ps0.pid")"
  sleep 0.3  # a checkpoint whose snapshots completed before the kill is logged by now
  checkpoints_before=$(checkpoints_logged "$run")
  [ "$(shard "$run" 0 "$port")" = "$port" ] || fail "shard 0 did not restart on port $port"
  touch "$run/restarted"
  grep -q "restored from its latest checkpoint" "$run/ps0.2.log" ||
    fail "the restarted shard 0 did not restore its latest: $(cat "$run/ps0.2.log")"
}

echo "== reference: the run without faults"
reference=$WORK/reference
mkdir -p "$reference"
at_exit stop_shards "$reference"
r0=$(shard "$reference" 0)
r1=$(shard "$reference" 1)
trainers "$reference" "$r0" "$r1" > "$reference.log" 2>&1 ||
  { cat "$reference.log"; fail "the reference run failed"; }
stop_shards "$reference"
[ -n "$(test_metrics "$reference")" ] || fail "the reference run has no test metrics"
[ -n "$(params_line "$reference")" ] || fail "the reference run logged no params event"

echo "== 1. ps.on_restart = stop: a restarted shard stops the run, naming it"
run=$WORK/stop
mkdir -p "$run"
at_exit stop_shards "$run"
p0=$(shard "$run" 0)
p1=$(shard "$run" 1)
trainers "$run" "$p0" "$p1" > "$run.log" 2>&1 &
trainers_pid=$!
kill_and_restart_shard0 "$run" "$p0"
status=0
wait "$trainers_pid" || status=$?
[ "$status" -ne 0 ] || { cat "$run.log"; fail "the trainers exited 0 against a restarted shard"; }
grep -q "parameter server shard 0 at 127.0.0.1:$p0: the shard restarted" "$run.log" ||
  { cat "$run.log"; fail "the trainers' error does not name shard 0 at 127.0.0.1:$p0 and its restart"; }
no_processes_left "$run"
[ "$(checkpoints_logged "$run")" -eq "$checkpoints_before" ] ||
  fail "a checkpoint was logged after shard 0 restarted"
late=$(find "$run/checkpoints" -newer "$run/restarted")
[ -z "$late" ] || fail "written into checkpoints/ after shard 0 restarted: $late"
[ -z "$(test_metrics "$run")" ] || fail "the stopped run went on to the test evaluation"
echo "   $(grep -o 'parameter server shard 0 at [^:]*:[0-9]*: the shard restarted' "$run.log" | head -1)"
echo "   exit $status, latest still $(cat "$run/checkpoints/latest"), nothing written after the restart"
stop_shards "$run"

echo "== 2. ps.on_restart = rewind: every rank rewinds and ends as the run without faults"
run=$WORK/rewind
mkdir -p "$run"
at_exit stop_shards "$run"
p0=$(shard "$run" 0)
p1=$(shard "$run" 1)
trainers "$run" "$p0" "$p1" --set ps.on_restart=rewind > "$run.log" 2>&1 &
trainers_pid=$!
kill_and_restart_shard0 "$run" "$p0"
wait "$trainers_pid" || { cat "$run.log"; fail "the rewinding run failed"; }
no_processes_left "$run"
rewind=$(grep '"event":"rewind"' "$run/metrics.jsonl" || true)
[ "$(echo "$rewind" | grep -c rewind)" -eq 1 ] ||
  { cat "$run.log"; fail "expected one rewind event, got: ${rewind:-none}"; }
grep -q "parameter server shard 0 at 127.0.0.1:$p0 restarted (seen at step [0-9]*): every rank rewinds" \
  "$run.log" || { cat "$run.log"; fail "no stderr line names the rewind and shard 0 at 127.0.0.1:$p0"; }
same_test_metrics "$reference" "$run"
[ "$(params_line "$reference")" = "$(params_line "$run")" ] ||
  fail "dense parameters differ: $(params_line "$reference") vs $(params_line "$run")"
stop_shards "$run"
echo "   $rewind"
echo "   same test metrics and dense parameters as the reference"
echo "PASS"
