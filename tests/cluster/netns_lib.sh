# shellcheck shell=bash disable=SC2034  # NETNS_NS/NETNS_ADDR: read by the sourcing test
# Throwaway "hosts" on one machine for the cluster tests: network namespaces
# joined by veth pairs on a bridge that lives in a namespace of its own, so
# the machine's own network is never touched. Source after common.sh (it
# needs at_exit and fail); root only.
#
#   netns_setup NAME...     one namespace per NAME, address $NETNS_SUBNET.<i>
#                           (i = 1, 2, ... in order), lo up; sets NETNS_NS[NAME]
#                           and NETNS_ADDR[NAME], writes $NETNS_RSH_MAP for
#                           netns_rsh.sh; torn down at exit, whatever happens
#   netns_teardown          kills every process left in the namespaces, then
#                           deletes them (their links and the bridge go with
#                           them); idempotent
#   netns_leftovers         prints whatever of this run is still there
#
# Names are hybrec-mh<pid of this shell>-<name>: concurrent runs never clash,
# and netns_setup first removes the namespaces of runs whose shell is gone
# (killed by SIGKILL, e.g. a ctest timeout, before they could clean up).

NETNS_PREFIX=hybrec-mh
# 10.213.47.0/24: a private /24 unlikely to be in use; it only exists inside
# the test's namespaces anyway.
NETNS_SUBNET=${NETNS_SUBNET:-10.213.47}
NETNS_RUN=$NETNS_PREFIX$$
declare -A NETNS_NS=() NETNS_ADDR=()
NETNS_CREATED=()

# netns_usable: whether this machine lets us make namespaces (root, iproute2
# with netns support, `ip netns exec` able to remount /sys).
netns_usable() {
  [ "$(id -u)" -eq 0 ] || return 1
  command -v ip > /dev/null || return 1
  local probe=$NETNS_RUN-probe ok=0
  ip netns add "$probe" 2> /dev/null || return 1
  ip netns exec "$probe" ip link set lo up 2> /dev/null && ok=1
  ip netns del "$probe" 2> /dev/null || true
  [ "$ok" -eq 1 ]
}

# _netns_kill_and_delete NS: processes still inside NS get SIGTERM, then
# SIGKILL after 5 s; then the namespace is deleted.
_netns_kill_and_delete() {
  local ns=$1 pids deadline
  pids=$(ip netns pids "$ns" 2> /dev/null || true)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086  # a list of pids
    kill -TERM $pids 2> /dev/null || true
    deadline=$((SECONDS + 5))
    while [ -n "$(ip netns pids "$ns" 2> /dev/null)" ] && [ "$SECONDS" -lt "$deadline" ]; do
      sleep 0.1
    done
    pids=$(ip netns pids "$ns" 2> /dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -KILL $pids 2> /dev/null || true
  fi
  ip netns del "$ns" 2> /dev/null || true
}

# Namespaces of earlier runs whose shell died without cleaning up.
_netns_collect_stale() {
  local ns pid
  for ns in $(ip netns list 2> /dev/null | awk '{ print $1 }'); do
    [[ "$ns" =~ ^$NETNS_PREFIX([0-9]+)- ]] || continue
    pid=${BASH_REMATCH[1]}
    [ "$pid" != "$$" ] || continue
    kill -0 "$pid" 2> /dev/null && continue
    echo "netns: removing $ns, left by a run (pid $pid) that is gone"
    _netns_kill_and_delete "$ns"
  done
}

netns_teardown() {
  local i
  for ((i = ${#NETNS_CREATED[@]} - 1; i >= 0; i--)); do
    _netns_kill_and_delete "${NETNS_CREATED[$i]}"
  done
  NETNS_CREATED=()
}

netns_leftovers() {
  ip netns list 2> /dev/null | awk '{ print $1 }' | grep "^$NETNS_RUN-" || true
  ip -o link show 2> /dev/null | grep "$NETNS_RUN" || true
}

netns_setup() {
  _netns_collect_stale
  at_exit netns_teardown
  local hub=$NETNS_RUN-hub name ns i=0
  NETNS_CREATED+=("$hub")
  ip netns add "$hub" || fail "ip netns add $hub"
  ip -n "$hub" link set lo up
  ip -n "$hub" link add br0 type bridge || fail "no bridge in $hub"
  ip -n "$hub" link set br0 up
  NETNS_RSH_MAP=$WORK/netns.map
  export NETNS_RSH_MAP
  : > "$NETNS_RSH_MAP"
  for name in "$@"; do
    i=$((i + 1))
    ns=$NETNS_RUN-$name
    NETNS_CREATED+=("$ns")
    ip netns add "$ns" || fail "ip netns add $ns"
    # The veth pair is made inside the hub and its far end moved straight
    # into the host namespace: no link ever appears in the machine's own.
    ip -n "$hub" link add "v$i" type veth peer name mh0 netns "$ns" || fail "veth for $ns"
    ip -n "$hub" link set "v$i" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$NETNS_SUBNET.$i/24" dev mh0
    ip -n "$ns" link set mh0 up
    NETNS_NS[$name]=$ns
    NETNS_ADDR[$name]=$NETNS_SUBNET.$i
    # Each "host" has its own temporary directory (Open MPI's session dirs).
    mkdir -p "$WORK/tmp/$name"
    echo "$NETNS_SUBNET.$i $ns $WORK/tmp/$name" >> "$NETNS_RSH_MAP"
  done
  # Without STP a bridge port forwards as soon as its link is up; wait
  # for that (a moment after `link set up`).
  local deadline=$((SECONDS + 20))
  until [ "$(bridge -n "$hub" link show 2> /dev/null | grep -c 'state forwarding')" -eq "$#" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "bridge ports in $hub not forwarding: $(bridge -n "$hub" link show)"
    sleep 0.1
  done
}
