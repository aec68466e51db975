# shellcheck shell=bash
# A throw-away one-node Slurm cluster for the cluster tests: munged,
# slurmctld and slurmd run as root with every file (munge key, socket, logs,
# state, spool, pid files) under a directory of the test's and on ports the
# test picked, so the system's /etc/slurm and /etc/munge are never used and
# two runs in a row do not meet. Source common.sh first, then this file.
#
#   slurm_cluster_start DIR   write DIR/slurm.conf, start the daemons (stopped
#                             at exit, also on failure), wait for the node idle
#   slurm_job_field JOB KEY   one field of `scontrol show job` (e.g. JobState)
#   slurm_wait_job JOB T      wait up to T s until JOB ended; prints its state
#   slurm_dump JOB...         daemon logs and the jobs' details, for a failure
#
# Every slurm command needs SLURM_CONF; slurm_cluster_start exports it.

# free_port: a TCP port nothing listens on now (random, 20000-59999).
free_port() {
  local port
  while true; do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    ss -Htan "sport = :$port" 2> /dev/null | grep -q . || { echo "$port"; return; }
  done
}

# _slurm_pid_alive PIDFILE: the daemon in PIDFILE is running.
_slurm_pid_alive() {
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2> /dev/null
}

# _slurm_stop_daemon NAME PID: SIGTERM, then SIGKILL after 10 s.
_slurm_stop_daemon() {
  local name=$1 pid=$2
  [ -n "$pid" ] && kill -0 "$pid" 2> /dev/null || return 0
  kill -TERM "$pid" 2> /dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2> /dev/null || return 0
    sleep 0.1
  done
  echo "slurm_cluster: $name (pid $pid) ignored SIGTERM; killing it" >&2
  kill -KILL "$pid" 2> /dev/null || true
}

slurm_cluster_stop() {
  local dir=$SLURM_TEST_DIR
  # Jobs first (their slurmstepd would outlive slurmd), then the daemons in
  # reverse order of their start.
  if _slurm_pid_alive "$dir/slurmctld.pid"; then
    scancel --full --quiet --partition=test 2> /dev/null || true
  fi
  _slurm_stop_daemon slurmd "${SLURMD_PID:-}"
  _slurm_stop_daemon slurmctld "${SLURMCTLD_PID:-}"
  _slurm_stop_daemon munged "$(cat "$dir/munge/munged.pid" 2> /dev/null || true)"
  # slurmstepd of a job killed with slurmd, and anything launched from the
  # test's directory, must not outlive the test.
  local pids
  pids=$(for p in $(pgrep slurmstepd 2> /dev/null || true); do
    grep -qs "$dir" "/proc/$p/environ" && echo "$p"
  done)
  # shellcheck disable=SC2086  # one pid per word
  [ -z "$pids" ] || kill -KILL $pids 2> /dev/null || true
}

slurm_cluster_start() {
  local dir=$1
  SLURM_TEST_DIR=$dir
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
  chmod 700 "$dir/munge"
  export SLURM_CONF=$dir/slurm.conf
  local host ctld_port slurmd_port
  host=$(hostname -s)
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done

  # munged with its own key and socket; Slurm finds the socket through
  # AuthInfo (both the daemons' auth and the job credentials use it).
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  munged --force --socket="$dir/munge/socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed" ||
    fail "munged did not start (see $dir/munge/munged.log)"
  at_exit slurm_cluster_stop

  # Notes on the non-default lines:
  # - cred_expire=5: a requeued job may start again only cred_expire seconds
  #   after its requeue (default 120 s, too long for a test).
  # - CPUs=8 + config_overrides: the test runs 4 tasks (2 servers, 2
  #   trainers) on a 2-core machine; slurmd accepts the claimed count.
  # - MinJobAge=300: a finished job stays in `scontrol show job` long enough
  #   to read its exit code and restart count.
  # - KillWait=30: a job's processes get 30 s between SIGTERM and SIGKILL.
  # - SchedulerType=sched/builtin: FIFO, starts a job at submit time without
  #   waiting for a backfill cycle; batch_sched_delay/sched_interval keep
  #   the periodic pass short (a requeued job is started by it).
  cat > "$SLURM_CONF" << EOF
ClusterName=hybrectest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/socket,cred_expire=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2,batch_sched_delay=1
MinJobAge=300
KillWait=30
InactiveLimit=0
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
PluginDir=/usr/lib/x86_64-linux-gnu/slurm-wlm
NodeName=$host NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  # No cgroup.conf or plugstack: an empty plugstack keeps the system's
  # /etc/slurm/plugstack.conf (and its plugins) out.
  : > "$dir/plugstack.conf"
  echo "PlugStackConfig=$dir/plugstack.conf" >> "$SLURM_CONF"

  # -i: ignore state left by an earlier cluster (there is none: fresh dir).
  slurmctld -D -i -f "$SLURM_CONF" > "$dir/log/slurmctld.out" 2>&1 &
  SLURMCTLD_PID=$!
  slurmd -D -f "$SLURM_CONF" -N "$host" > "$dir/log/slurmd.out" 2>&1 &
  SLURMD_PID=$!
  local deadline=$((SECONDS + 60)) state=""
  while [ "$SECONDS" -lt "$deadline" ]; do
    kill -0 "$SLURMCTLD_PID" 2> /dev/null || { slurm_dump ""; fail "slurmctld exited"; }
    kill -0 "$SLURMD_PID" 2> /dev/null || { slurm_dump ""; fail "slurmd exited"; }
    state=$(sinfo -h -n "$host" -o %T 2> /dev/null || true)
    [ "$state" = idle ] && return 0
    sleep 0.2
  done
  slurm_dump ""
  fail "the node $host is '${state:-unknown}', not idle, 60 s after the start"
}

slurm_job_field() {
  scontrol show job "$1" 2> /dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1
}

# slurm_wait_job JOB TIMEOUT_S: waits until JOB reached a final state.
slurm_wait_job() {
  local job=$1 deadline=$((SECONDS + $2)) state
  while true; do
    state=$(slurm_job_field "$job" JobState)
    case "$state" in
      COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
        echo "$state"
        return 0
        ;;
    esac
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "${state:-UNKNOWN}"
      return 1
    fi
    sleep 0.5
  done
}

# shellcheck disable=SC2120  # the job ids are optional
slurm_dump() {
  local dir=$SLURM_TEST_DIR f job
  # Each daemon's log file, else (it died before opening it) its stderr.
  for f in "$dir"/munge/munged.log "$dir"/log/slurmctld.log "$dir"/log/slurmd.log; do
    [ -s "$f" ] || f=${f%.log}.out
    [ -s "$f" ] || continue
    echo "===== $f (last 60 lines)"
    tail -n 60 "$f"
  done
  for job in "$@"; do
    [ -n "$job" ] || continue
    echo "===== scontrol show job $job"
    scontrol show job "$job" 2> /dev/null || true
  done
}
