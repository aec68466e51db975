#!/usr/bin/env bash
# One GPU node: 2 parameter-server tasks and 8 trainer tasks (one per GPU)
# on the same node. Tasks 0-1 are the servers (no GPU), tasks 2-9 the
# trainers; trainer k uses GPU k. Run from the repository root (the job
# starts there: relative paths in HYBREC_* are relative to it). synth.toml
# reads runs/demo/synth.h5: make it first with
#   build/bin/hybrec data synth --out runs/demo/synth.h5
#
#   launch/slurm/one-node.sh [more sbatch options, e.g. --partition=gpu]
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p runs
# ntasks-per-node = servers + GPUs; cpus-per-task: OpenMP threads per rank.
# --time: the job gets SIGUSR1 120 s before it, checkpoints and requeues.
exec sbatch --job-name=hybrec-1node \
  --nodes=1 --ntasks-per-node=10 --gpus-per-node=8 --cpus-per-task=4 \
  --time=04:00:00 \
  --output=runs/slurm-%j.out \
  --export=ALL,HYBREC_CONFIG=launch/configs/synth.toml,HYBREC_OUT=runs/synth-1node,HYBREC_PS=2 \
  "$@" launch/slurm/train.sbatch
