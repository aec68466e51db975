#!/usr/bin/env bash
# Four nodes of 8 GPUs: node 0 runs the 8 parameter-server tasks (shards
# 0-7, HYBREC_PS = ntasks-per-node so the servers have the node to
# themselves), nodes 1-3 run 24 trainer tasks, one per GPU. Block
# distribution puts tasks 0-7 on node 0. The servers' node is allocated
# GPUs too (one node shape per job; train.sbatch does not use heterogeneous
# jobs), they stay unused. HYBREC_OUT must be on a file system
# every node shares (checkpoints, metrics, the generated multi-prog file),
# and so must the data (runs/demo/synth.h5 for synth.toml: see one-node.sh).
# 300 s before --time the job checkpoints and requeues itself (the margin
# covers a checkpoint plus up to 30 s of slurmctld's signal delay).
#
#   launch/slurm/multi-node.sh [more sbatch options, e.g. --partition=gpu]
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p runs
exec sbatch --job-name=hybrec-4node \
  --nodes=4 --ntasks-per-node=8 --gpus-per-node=8 --cpus-per-task=8 \
  --time=24:00:00 --signal=B:USR1@300 \
  --output=runs/slurm-%j.out \
  --export=ALL,HYBREC_CONFIG=launch/configs/synth.toml,HYBREC_OUT=runs/synth-4node,HYBREC_PS=8,HYBREC_TRAIN_ARGS="--set train.epochs=10" \
  "$@" launch/slurm/train.sbatch
