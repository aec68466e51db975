#!/usr/bin/env bash
# The failures a long training job meets, each followed by the relaunch that
# recovers from it. Every run is in sync mode with the same seed, so each
# recovered run must end with exactly the test metrics of an uninterrupted
# one (the reference):
#   1. a server shard killed (standalone servers, trainers under mpirun):
#      the trainers retry for a bounded time, then stop naming the shard;
#      the shard restarts from its snapshot and --resume continues;
#   2. a trainer rank, then a server rank, killed in a hybrec-launch job: the
#      whole job ends at once, no process of it is left, and the relaunch
#      resumes;
#   3. SIGTERM to hybrec-launch (scancel, preemption): every rank
#      checkpoints, the job exits 0, and the relaunch resumes;
#   4. a rank killed while writing a checkpoint (HYBREC_FAULT): `latest`
#      still names the previous checkpoint, which loads and is resumed.
source "$(dirname "$0")/common.sh"
command -v mpirun > /dev/null || skip "mpirun not found"

data=$WORK/small.h5
small_dataset "$data"
# Long enough (about 580 steps, a checkpoint every 20) that a kill after the
# first checkpoint lands mid-run on any machine.
train_args=(--data "$data" --set train.epochs=10 --set train.patience=0)

# launch RUN [hybrec-launch options...]: a 2-server, 2-trainer job.
launch() {
  local run=$1
  shift
  "$LAUNCH" "$CONFIG" --ps 2 --trainers 2 --out "$run" "$@" -- "${train_args[@]}" \
    > "$run.log" 2>&1
}

# launch_in_background RUN: the same job; $launch_pid is hybrec-launch itself
# (exec), so a signal sent to it is the one a scheduler would send.
launch_in_background() {
  local run=$1
  (exec "$LAUNCH" "$CONFIG" --ps 2 --trainers 2 --out "$run" -- "${train_args[@]}" \
    > "$run.log" 2>&1) &
  launch_pid=$!
}

# no_processes_left RUN: nothing started for RUN survives (polls 10 s).
no_processes_left() {
  local run=$1 deadline=$((SECONDS + 10))
  while pgrep -f -- "$run" > /dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      pgrep -af -- "$run"
      fail "processes of $run are still running"
    fi
    sleep 0.2
  done
}

# first_checkpoint RUN: waits for the run's first checkpoint event.
first_checkpoint() {
  wait_for 120 "the first checkpoint of $1" has_event "$1" checkpoint
}

# resumed_from RUN: the step the last `start` event resumed from.
resumed_from() {
  grep '"event":"start"' "$1/metrics.jsonl" | tail -1 | sed -n 's/.*"step":\([0-9]*\).*/\1/p'
}

echo "== reference: an uninterrupted run"
reference=$WORK/reference
launch "$reference" || { cat "$reference.log"; fail "the reference run failed"; }
[ -n "$(test_metrics "$reference")" ] || fail "the reference run has no test metrics"

echo "== 1. a server shard killed mid-run"
run=$WORK/shard-killed
mkdir -p "$run"
at_exit stop_shards "$run"
port0=$(start_shard "$run" 0)
port1=$(start_shard "$run" 1)
[ -n "$port0" ] && [ -n "$port1" ] || fail "the shards did not start: $(cat "$run"/ps?.log)"
trainers() {
  mpirun --oversubscribe -np 2 "$HYBREC_BIN" train "$CONFIG" "$@" \
    --ps "127.0.0.1:$port0,127.0.0.1:$port1" --ps-dir "$run/ps" "${train_args[@]}"
}
trainers --out "$run" > "$run.log" 2>&1 &
trainers_pid=$!
first_checkpoint "$run"
kill -KILL "$(cat "$run/ps1.pid")"
killed_at=$SECONDS
status=0
wait "$trainers_pid" || status=$?
took=$((SECONDS - killed_at))
[ "$status" -ne 0 ] || fail "the trainers exited 0 after shard 1 was killed"
grep -q "parameter server shard 1 at 127.0.0.1:$port1" "$run.log" ||
  { cat "$run.log"; fail "the trainers' error does not name shard 1 at 127.0.0.1:$port1"; }
grep -q "unreachable after 8 attempts" "$run.log" ||
  { cat "$run.log"; fail "the trainers did not report their bounded retries"; }
[ "$took" -le 60 ] || fail "the trainers took ${took}s to give up (retries should bound it near 5 s)"
echo "   trainers stopped ${took}s after the kill: $(grep -o 'parameter server shard 1[^;]*attempts' "$run.log" | head -1)"
no_processes_left "train $CONFIG --out $run"
# The restarted shard starts empty (it died without a final snapshot); the
# resumed trainers load the snapshot of their checkpoint's step into every shard.
port1=$(start_shard "$run" 1)
[ -n "$port1" ] || fail "shard 1 did not restart: $(cat "$run/ps1.2.log")"
trainers --resume "$run" > "$run.resume.log" 2>&1 || { cat "$run.resume.log"; fail "the resumed run failed"; }
[ "$(resumed_from "$run")" -gt 0 ] || fail "the relaunch did not resume from a checkpoint"
same_test_metrics "$reference" "$run"
stop_shards "$run"
echo "   resumed from step $(resumed_from "$run"); same test metrics as the reference"

# kill_rank_and_resume NAME WHAT PATTERN: kills one rank of a hybrec-launch
# job (the first process matching PATTERN) after its first checkpoint; the
# whole job must end, leave nothing running, and resume.
kill_rank_and_resume() {
  local run=$WORK/$1 what=$2 pattern=$3 victim status=0
  mkdir -p "$run"
  launch_in_background "$run"
  first_checkpoint "$run"
  victim=$(pgrep -f -- "${pattern//RUN/$run}" | head -1)
  [ -n "$victim" ] || fail "no $what process of $run to kill"
  kill -KILL "$victim"
  wait "$launch_pid" || status=$?
  [ "$status" -ne 0 ] || fail "hybrec-launch exited 0 after a $what rank was killed"
  no_processes_left "$run"
  echo "   the job ended (exit $status) with no process left"
  launch "$run" --resume || { cat "$run.log"; fail "the relaunch after a killed $what failed"; }
  [ "$(resumed_from "$run")" -gt 0 ] || fail "the relaunch did not resume from a checkpoint"
  same_test_metrics "$reference" "$run"
  echo "   resumed from step $(resumed_from "$run"); same test metrics as the reference"
}

echo "== 2. a trainer rank killed mid-run"
kill_rank_and_resume trainer-killed trainer "train $CONFIG --out RUN"
echo "== 2b. a server rank of the same kind of job killed mid-run"
kill_rank_and_resume server-killed server "ps --mpi --port 0 --checkpoint-dir RUN/ps"

echo "== 3. SIGTERM (preemption): checkpoint, exit 0, resume"
run=$WORK/preempted
mkdir -p "$run"
launch_in_background "$run"
first_checkpoint "$run"
kill -TERM "$launch_pid"
status=0
wait "$launch_pid" || status=$?
[ "$status" -eq 0 ] || { cat "$run.log"; fail "hybrec-launch exited $status after SIGTERM, not 0"; }
has_event "$run" preempted || fail "no preempted event in $run/metrics.jsonl"
[ -z "$(test_metrics "$run")" ] || fail "the preempted run went on to the test evaluation"
step=$(sed -n 's/.*"event":"preempted".*"step":\([0-9]*\).*/\1/p' "$run/metrics.jsonl")
grep -q "step-0*$step" "$run/checkpoints/latest" || fail "latest does not name the preempted step $step"
no_processes_left "$run"
launch "$run" --resume || { cat "$run.log"; fail "the relaunch after SIGTERM failed"; }
[ "$(resumed_from "$run")" -eq "$step" ] || fail "the relaunch did not resume from step $step"
same_test_metrics "$reference" "$run"
echo "   preempted at step $step, resumed there; same test metrics as the reference"

echo "== 4. a rank killed while writing a checkpoint"
run=$WORK/killed-in-checkpoint
mkdir -p "$run"
status=0
HYBREC_FAULT=kill-in-checkpoint:40 launch "$run" || status=$?
[ "$status" -ne 0 ] || fail "the job survived HYBREC_FAULT=kill-in-checkpoint:40"
grep -q "HYBREC_FAULT=kill-in-checkpoint:40: killing" "$run.log" || { cat "$run.log"; fail "the fault did not fire"; }
[ -f "$run/checkpoints/step-000040/trainer.h5" ] || fail "step 40's files were not written before the kill"
# The newest complete checkpoint (a periodic or best-validation one).
previous=$(grep '"event":"checkpoint"' "$run/metrics.jsonl" | tail -1 | sed -n 's/.*"step":\([0-9]*\).*/\1/p')
[ -n "$previous" ] && [ "$previous" -lt 40 ] || fail "no checkpoint before step 40 was logged"
grep -q "step-0*$previous\$" "$run/checkpoints/latest" ||
  fail "latest names $(cat "$run/checkpoints/latest"), not the previous checkpoint (step $previous)"
no_processes_left "$run"
launch "$run" --resume || { cat "$run.log"; fail "the relaunch after a kill during checkpoint failed"; }
[ "$(resumed_from "$run")" -eq "$previous" ] ||
  fail "the relaunch resumed from step $(resumed_from "$run"), not $previous"
same_test_metrics "$reference" "$run"
echo "   latest stayed at step $previous, which was resumed; same test metrics as the reference"
echo "PASS"
