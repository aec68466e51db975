#!/usr/bin/env bash
# Online training in the demo's layout: one MPMD job of 2 parameter-server
# ranks and 2 trainer ranks trains offline on the events before the 80%
# time quantile, then on the rest as a file stream (rank 0 reads it and
# broadcasts each micro-batch). Checked:
#   1. every streamed event is trained once, the trainers end with identical
#      dense parameters, and the new items of the stream are logged;
#   2. rank 0 killed inside an online checkpoint (HYBREC_FAULT): the
#      relaunch with --resume continues from the previous checkpoint's
#      stream position and ends with the uninterrupted run's dense
#      parameters and test metrics (sync mode), and new_items.jsonl holds
#      each new item once;
#   3. SIGTERM to hybrec-launch while the trainers wait on the stream: they
#      checkpoint, the job exits 0, and the relaunch ends as the
#      uninterrupted run did.
source "$(dirname "$0")/common.sh"
command -v mpirun > /dev/null || skip "mpirun not found"

data=$WORK/small.h5
small_dataset "$data"
events=$WORK/events.jsonl
"$HYBREC_BIN" publish --data "$data" --to "file:$WORK/published.jsonl" --from-time-quantile 0.8 \
  > /dev/null
# Two new items (ids past the dataset's 300), one by a new user, inside the stream.
{
  head -n 100 "$WORK/published.jsonl"
  echo '{"user": 5, "item": 303, "ts": 0, "text": "interstellar robot opera"}'
  sed -n '101,700p' "$WORK/published.jsonl"
  echo '{"user": 650, "item": 310, "ts": 0, "text": "a quiet french garden comedy"}'
  tail -n +701 "$WORK/published.jsonl"
} > "$events"
total=$(wc -l < "$events")
[ "$total" -gt 1200 ] || fail "the stream has $total events, too few for the checkpoints below"

train_args=(--data "$data" --stream "file:$events" --set data.before_time_quantile=0.8
            --set train.epochs=1 --set train.patience=0 --set train.keep_checkpoints=100
            --set stream.batch=64 --set stream.checkpoint_every=256 --set stream.idle_stop_s=1)

launch() {
  local run=$1
  shift
  "$LAUNCH" "$CONFIG" --ps 2 --trainers 2 --out "$run" "$@" -- "${train_args[@]}" \
    > "$run.log" 2>&1
}

# field RUN EVENT NAME: NAME's value in the last EVENT line of RUN's metrics.
field() {
  grep "\"event\":\"$2\"" "$1/metrics.jsonl" 2> /dev/null | tail -1 | sed -n "s/.*\"$3\":\"\{0,1\}\([^,\"}]*\).*/\1/p"
}

echo "== 1. an online run of 2 servers and 2 trainers"
reference=$WORK/reference
launch "$reference" || { cat "$reference.log"; fail "the online run failed"; }
[ "$(field "$reference" stream_end events)" = "$total" ] ||
  fail "trained $(field "$reference" stream_end events) of the stream's $total events"
[ "$(field "$reference" stream_end position)" = "$total" ] || fail "the run did not end at position $total"
[ "$(field "$reference" replicas identical)" = "true" ] || fail "the trainers' dense parameters differ"
[ "$(wc -l < "$reference/online/new_items.jsonl")" -eq 2 ] || fail "new_items.jsonl does not hold the 2 new items"
grep -q '"item":310' "$reference/online/new_items.jsonl" || fail "new item 310 is not in new_items.jsonl"
[ -n "$(test_metrics "$reference")" ] || fail "the online run has no test metrics"
offline=$(field "$reference" stream_start step)
echo "   $total events in $(( $(field "$reference" stream_end step) - offline )) steps after $offline offline ones"

echo "== 2. rank 0 killed inside an online checkpoint, then resumed"
run=$WORK/killed
mkdir -p "$run"
kill_step=$((offline + 8))  # 512 events: the second online checkpoint
status=0
HYBREC_FAULT=kill-in-checkpoint:$kill_step launch "$run" || status=$?
[ "$status" -ne 0 ] || fail "the job survived HYBREC_FAULT=kill-in-checkpoint:$kill_step"
grep -q "killing this rank" "$run.log" || { cat "$run.log"; fail "the fault did not fire"; }
grep -q "step-0*$((offline + 4))\$" "$run/checkpoints/latest" ||
  fail "latest names $(cat "$run/checkpoints/latest"), not step $((offline + 4))"
launch "$run" --resume || { cat "$run.log"; fail "the resumed online run failed"; }
[ "$(field "$run" stream_start after_position)" = "256" ] ||
  fail "the resumed run read after position $(field "$run" stream_start after_position), not 256"
[ "$(field "$run" stream_end events)" = "$total" ] || fail "the resumed run did not count $total events"
[ "$(field "$run" params dense_fnv1a)" = "$(field "$reference" params dense_fnv1a)" ] ||
  fail "dense parameters differ from the uninterrupted run's"
same_test_metrics "$reference" "$run"
cmp -s "$run/online/new_items.jsonl" "$reference/online/new_items.jsonl" ||
  fail "new_items.jsonl differs from the uninterrupted run's"
echo "   resumed after position 256; same parameters, test metrics and new items as the reference"

echo "== 3. SIGTERM while the trainers wait for events"
run=$WORK/preempted
mkdir -p "$run"
# Without an idle limit the trainers wait on the stream until told to stop.
(exec "$LAUNCH" "$CONFIG" --ps 2 --trainers 2 --out "$run" -- "${train_args[@]}" \
  --set stream.idle_stop_s=0 > "$run.log" 2>&1) &
launch_pid=$!
at_exit "kill -KILL $launch_pid 2> /dev/null"
caught_up() { [ "$(field "$run" stream events)" = "2816" ]; }  # the last full checkpoint
wait_for 300 "the online run to reach event 2816" caught_up
kill -TERM "$launch_pid"
status=0
wait "$launch_pid" || status=$?
[ "$status" -eq 0 ] || { cat "$run.log"; fail "hybrec-launch exited $status after SIGTERM, not 0"; }
has_event "$run" preempted || fail "no preempted event in $run/metrics.jsonl"
[ -z "$(test_metrics "$run")" ] || fail "the preempted run went on to the test evaluation"
launch "$run" --resume || { cat "$run.log"; fail "the relaunch after SIGTERM failed"; }
[ "$(field "$run" stream_end events)" = "$total" ] || fail "the relaunch did not end at $total events"
[ "$(field "$run" params dense_fnv1a)" = "$(field "$reference" params dense_fnv1a)" ] ||
  fail "dense parameters differ from the uninterrupted run's"
same_test_metrics "$reference" "$run"
echo "   preempted after position $(field "$run" stream_start after_position); same parameters and test metrics"
echo "PASS"
