#!/bin/sh
# Open MPI's rsh agent for tests/cluster/multihost_test.sh: "ssh" into a
# network namespace of this machine. Open MPI runs it as
#   netns_rsh.sh [options] HOST WORD...
# (WORD... is the remote command, e.g. "PATH=...; export PATH; ... orted ...",
# meant for a remote shell to parse, as ssh would). HOST is looked up in
# $NETNS_RSH_MAP ("HOST NAMESPACE" lines); the command runs there under sh.
# Like ssh, the remote side gets a fresh environment: Open MPI must forward
# what the ranks need itself (MCA parameters on the orted command line, -x);
# ASAN_OPTIONS stays, as a test harness would set it on every host.
# Each namespace gets its own temporary directory, as separate hosts would.
set -eu
while [ $# -gt 0 ]; do
  case "$1" in
    -*) shift ;; # ssh options Open MPI may add (-x, ...): not needed here
    *) break ;;
  esac
done
[ $# -ge 2 ] || { echo "netns_rsh.sh: usage: netns_rsh.sh HOST COMMAND..." >&2; exit 255; }
host=$1
shift
map=${NETNS_RSH_MAP:?netns_rsh.sh: NETNS_RSH_MAP is not set}
ns=$(awk -v h="$host" '$1 == h { print $2; exit }' "$map")
[ -n "$ns" ] || { echo "netns_rsh.sh: host '$host' is not in $map" >&2; exit 255; }
tmp=$(awk -v h="$host" '$1 == h { print $3; exit }' "$map")
[ -n "${NETNS_RSH_LOG:-}" ] && printf '%s -> %s: %s\n' "$host" "$ns" "$*" >> "$NETNS_RSH_LOG"
exec ip netns exec "$ns" env -i PATH="$PATH" HOME="${HOME:-/root}" TMPDIR="${tmp:-/tmp}" \
  OMPI_ALLOW_RUN_AS_ROOT="${OMPI_ALLOW_RUN_AS_ROOT:-}" \
  OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-}" \
  ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
  sh -c "$*"
