#!/bin/sh
# HYBREC_BIN for tests/cluster/multihost_test.sh: records where a rank runs
# ("<MPI rank> <hybrec mode> <network namespace> <IPv4 addresses>" appended to
# $HYBREC_NETNS_RECORD), then becomes $HYBREC_REAL_BIN with the same arguments.
# The test checks these lines to prove the layout was real.
set -eu
real=${HYBREC_REAL_BIN:?netns_rank.sh: HYBREC_REAL_BIN is not set}
if [ -n "${HYBREC_NETNS_RECORD:-}" ]; then
  ns=$(ip netns identify 2> /dev/null || true)
  addrs=$(ip -4 -o addr show scope global 2> /dev/null | awk '{ print $4 }' | tr '\n' ' ')
  echo "${OMPI_COMM_WORLD_RANK:-?} ${1:-?} ${ns:-<host>} ${addrs:-<none>}" >> "$HYBREC_NETNS_RECORD"
fi
exec "$real" "$@"
