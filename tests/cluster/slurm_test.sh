#!/usr/bin/env bash
# launch/slurm/train.sbatch on a throw-away one-node Slurm cluster (munged,
# slurmctld, slurmd started here, everything under the test's temp dir):
#   (a) a small run of 2 server + 2 trainer tasks completes with test metrics;
#   (b) SIGUSR1 to the batch shell (what --signal=B:USR1@T sends before the
#       time limit) makes the ranks checkpoint, the job requeue itself, run
#       again with --resume and end with test metrics.
# Needs root (the daemons run as root), munged and the Slurm daemons; skips
# (exit 77) otherwise.
source "$(dirname "$0")/common.sh"

# The daemons live in sbin, not always on a CI PATH.
export PATH=$PATH:/usr/sbin:/sbin
[ "$(id -u)" -eq 0 ] || skip "needs root to run munged/slurmctld/slurmd"
for tool in munged slurmctld slurmd sbatch srun scontrol sinfo scancel ss; do
  command -v "$tool" > /dev/null || skip "$tool is not installed (scripts/setup-deps.sh)"
done
source "$CLUSTER_TESTS/slurm_cluster.sh"

SBATCH_SCRIPT=$REPO/launch/slurm/train.sbatch
jobs_submitted=()
on_failure() {
  # common.sh's exit handler holds the exit status in its local "status".
  local rc=${status:-0}
  [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] || return 0
  echo "===== test failed; state of the cluster and the jobs"
  slurm_dump "${jobs_submitted[@]}"
  local f
  for f in "$WORK"/*.out; do
    [ -s "$f" ] || continue
    echo "===== job output $f (last 80 lines)"
    tail -n 80 "$f"
  done
}
# SLURM_TEST_KEEP=DIR: copy the runs, job outputs and logs there at exit.
[ -z "${SLURM_TEST_KEEP:-}" ] ||
  at_exit "mkdir -p '$SLURM_TEST_KEEP' && cp -r '$WORK'/run-* '$WORK'/*.out '$WORK/slurm/log' '$SLURM_TEST_KEEP'/"
# Registered after the cluster's cleanup: it runs first, with the daemons up.
phase() { echo "slurm_test: [$((SECONDS - t0))s] $*"; }
t0=$SECONDS

phase "starting munged, slurmctld, slurmd in $WORK/slurm"
slurm_cluster_start "$WORK/slurm"
at_exit on_failure
phase "node $(hostname -s) is idle"

small_dataset "$WORK/data.bin"
# The servers bind 0.0.0.0: the job authenticates with a token.
token=$WORK/ps-token
(umask 077 && openssl rand -hex 32 > "$token")

# submit NAME OUT [SBATCH_ARGS...]: submits train.sbatch (2 servers + 2
# trainers on the one node) and prints the job id.
submit() {
  local name=$1 out=$2
  shift 2
  (cd "$WORK" && sbatch --parsable --job-name="$name" --nodes=1 --ntasks=4 \
    --output="$WORK/$name.out" "$@" \
    --export="ALL,HYBREC_CONFIG=$CONFIG,HYBREC_OUT=$out,HYBREC_PS=2,HYBREC_BIN=$HYBREC_BIN,HYBREC_AUTH_TOKEN_FILE=$token" \
    "$SBATCH_SCRIPT")
}

# ---- (a) a small run --------------------------------------------------------------
run_a=$WORK/run-a
job=$(HYBREC_DEVICE=cpu HYBREC_TRAIN_ARGS="--data $WORK/data.bin" submit small "$run_a")
jobs_submitted+=("$job")
phase "(a) submitted job $job: 2 servers + 2 trainers, $CONFIG"
state=$(slurm_wait_job "$job" 120) || fail "job $job still $state after 120 s"
exit_code=$(slurm_job_field "$job" ExitCode)
phase "(a) job $job ended: $state, exit code $exit_code"
[ "$state" = COMPLETED ] && [ "$exit_code" = 0:0 ] || fail "job $job ended $state ($exit_code)"
[ -n "$(test_metrics "$run_a")" ] || fail "$run_a/metrics.jsonl has no test metrics"
has_event "$run_a" start || fail "$run_a/metrics.jsonl has no start event"
grep -q '"ranks":2' "$run_a/metrics.jsonl" || fail "the run did not have 2 trainer ranks"
ls "$run_a/ps" > /dev/null 2>&1 || fail "the servers left no snapshot in $run_a/ps"
grep -q -- "train .*--device cpu" "$run_a"/slurm/job*.train.sh ||
  fail "HYBREC_DEVICE=cpu did not reach the trainers' command line"
grep -q '"device":"cpu"' "$run_a/metrics.jsonl" || fail "the run's memory plan names no cpu device"
phase "(a) ok: test metrics in $run_a/metrics.jsonl"

# ---- (b) preemption and requeue ---------------------------------------------------------
run_b=$WORK/run-b
job=$(HYBREC_TRAIN_ARGS="--data $WORK/data.bin --set train.epochs=20 --set train.patience=0" submit longer "$run_b")
jobs_submitted+=("$job")
phase "(b) submitted job $job (20 epochs, no early stop); waiting for its first checkpoint"
wait_for 120 "a checkpoint event in $run_b/metrics.jsonl" has_event "$run_b" checkpoint
# What Slurm does at --signal=B:USR1@T: SIGUSR1 to the batch shell only.
scancel --signal=USR1 --batch "$job"
phase "(b) sent SIGUSR1 to the batch shell of job $job; waiting for the requeue"
restarted() { [ "$(slurm_job_field "$job" Restarts)" -ge 1 ] 2> /dev/null; }
wait_for 120 "job $job to be requeued (Restarts >= 1)" restarted
phase "(b) job $job requeued ($(slurm_job_field "$job" JobState)); waiting for its second run to end"
state=$(slurm_wait_job "$job" 180) || fail "job $job still $state after 180 s"
exit_code=$(slurm_job_field "$job" ExitCode)
phase "(b) job $job ended: $state, exit code $exit_code, restarts $(slurm_job_field "$job" Restarts)"
[ "$state" = COMPLETED ] && [ "$exit_code" = 0:0 ] || fail "job $job ended $state ($exit_code)"
has_event "$run_b" preempted || fail "$run_b/metrics.jsonl has no preempted event"
grep '"event":"start"' "$run_b/metrics.jsonl" | grep -q '"resumed":true' ||
  fail "$run_b/metrics.jsonl has no start event with \"resumed\":true"
[ -n "$(test_metrics "$run_b")" ] || fail "$run_b/metrics.jsonl has no test metrics"
grep -q "resuming $run_b" "$WORK/longer.out" || fail "the second run did not pass --resume"
phase "(b) ok: preempted, requeued, resumed, test metrics"

# ---- (c) the daemons stop --------------------------------------------------------------
slurm_cluster_stop
left=""
for pid in ${SLURMCTLD_PID:-} ${SLURMD_PID:-} $(cat "$WORK/slurm/munge/munged.pid" 2> /dev/null); do
  kill -0 "$pid" 2> /dev/null && left="$left $pid"
done
[ -z "$left" ] || fail "daemons still running:$left"
phase "(c) munged, slurmctld and slurmd stopped"
echo "slurm_test: PASS"
