#!/usr/bin/env bash
# Runs saescale's Slurm tests against a real single-node Slurm cluster that this script
# brings up (scripts/slurm-local.sh: slurmctld + slurmd with 2 fake GPUs, slurmdbd + MariaDB
# for sacct) and always tears down again. Needs root the first time, to apt-get the packages
# (slurmctld slurmd slurm-client slurmdbd mariadb-server).
#
#   scripts/test-slurm.sh [extra cargo test arguments]
#
# SAESCALE_REQUIRE_SLURM=1 makes a test fail, not skip, when it finds no cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

export SLURM_LOCAL_DIR=${SLURM_LOCAL_DIR:-/tmp/saescale-slurm-tests}
export SLURM_LOCAL_PORT=${SLURM_LOCAL_PORT:-17917}
# More CPU slots than cores: most test jobs sleep (fake trainer), and tests run in parallel.
export SLURM_LOCAL_CPUS=${SLURM_LOCAL_CPUS:-8}
export SLURM_LOCAL_GPUS=2
export SAESCALE_REQUIRE_SLURM=1

trap 'bash scripts/slurm-local.sh down --purge' EXIT
bash scripts/slurm-local.sh up --dbd
source "$SLURM_LOCAL_DIR/env.sh"

start=$(date +%s)
echo "==> Slurm tests (saescale-sweep: the readers; saescale: the CLI end to end)"
# --workspace (and $SAESCALE_CARGO_FEATURES, as scripts/test.sh) keeps the features of the
# test build, so nothing is rebuilt. The tests mostly wait on Slurm; run them all at once (the
# time-limit test alone takes ~90 s).
features=()
[ -z "${SAESCALE_CARGO_FEATURES:-}" ] || features=(--features "$SAESCALE_CARGO_FEATURES")
cargo test --workspace "${features[@]}" --test slurm --test slurm_cli "$@" -- --test-threads=8
echo "==> Slurm tests took $(($(date +%s) - start)) s (cluster start-up not included)"
