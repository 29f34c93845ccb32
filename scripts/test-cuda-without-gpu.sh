#!/usr/bin/env bash
# A CUDA build of saescale asked for a GPU where there is none (no NVIDIA driver: a CPU-only CI
# runner, a login node, a Slurm job that got no GPU) must fail in one line that says what is
# missing and what to do, with exit 2 — never a panic — in bench, train, plan and run, and a
# sweep whose trainers hit it must record that line as its runs' reason.
#
#   bash scripts/test-cuda-without-gpu.sh path/to/saescale-built-with---features-cuda
#
# .ci/run builds the binary and runs this on its CPU-only machine. On a machine with a working
# NVIDIA driver there is nothing to check, and the script says so.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ -e /proc/driver/nvidia/version ]; then
    echo "SKIPPED: this machine has an NVIDIA driver; the no-GPU path cannot be checked here"
    exit 0
fi

fail() {
    echo "FAIL $1"
    sed 's/^/    /' "$tmp/err"
    exit 1
}

# Runs a command that must exit 2 with one line on stderr naming the NVIDIA driver.
expect_one_line_exit_2() {
    local what=$1
    shift
    local code=0
    "$@" >"$tmp/out" 2>"$tmp/err" || code=$?
    [ "$code" = 2 ] || fail "$what: exit $code, expected 2"
    [ "$(grep -c . "$tmp/err")" = 1 ] || fail "$what: expected one line on stderr"
    grep -q "NVIDIA driver" "$tmp/err" || fail "$what: the message does not say the NVIDIA driver is missing"
    grep -q -- "--device cpu\|device = \"cpu\"" "$tmp/err" || fail "$what: the message does not say what to do"
    ! grep -qi "panicked\|backtrace" "$tmp/err" || fail "$what: it panicked"
    echo "ok   $what: $(cat "$tmp/err")"
}

cat >"$tmp/run.toml" <<'EOF'
[data]
source = "synthetic"
d_in = 16
[sae]
architecture = "relu"
features = 32
[train]
steps = 10
batch_size = 32
EOF
sed -e 's/^name = "quickstart"/name = "nogpu"/' sweeps/quickstart.toml >"$tmp/sweep.toml"

expect_one_line_exit_2 "bench --device cuda" "$bin" bench --device cuda --json
expect_one_line_exit_2 "train --device cuda" "$bin" train "$tmp/run.toml" --out "$tmp/one" --device cuda
[ ! -e "$tmp/one" ] || fail "train --device cuda: it created its output directory"
expect_one_line_exit_2 "plan --device cuda" "$bin" plan "$tmp/sweep.toml" --device cuda
# CUDA_VISIBLE_DEVICES lists a GPU, but there is no driver to reach it.
expect_one_line_exit_2 "run --device cuda" env CUDA_VISIBLE_DEVICES=0 "$bin" run "$tmp/sweep.toml" --dir "$tmp/sweep" --device cuda
[ ! -e "$tmp/sweep" ] || fail "run --device cuda: it created the sweep directory"

# Trainers that are told to use CUDA on a node without a GPU (as Slurm tasks may be): each run
# fails at once with the trainer's line as its reason, and is not retried (bad input).
cat >"$tmp/cuda-trainer.sh" <<EOF
#!/usr/bin/env bash
args=()
while [ \$# -gt 0 ]; do
    case \$1 in
        --device) args+=(--device cuda); shift 2 ;;
        *) args+=("\$1"); shift ;;
    esac
done
exec "$bin" "\${args[@]}"
EOF
chmod +x "$tmp/cuda-trainer.sh"
code=0
"$bin" run "$tmp/sweep.toml" --dir "$tmp/sweep" --device cpu --trainer "$tmp/cuda-trainer.sh" --no-progress >"$tmp/out" 2>"$tmp/err" || code=$?
[ "$code" = 1 ] || fail "a sweep of CUDA trainers without a GPU: exit $code, expected 1 (runs failed)"
status=$(ls "$tmp"/sweep/runs/*/status.json | head -n 1)
grep -q '"state": "failed"' "$status" || fail "a sweep of CUDA trainers without a GPU: $status is not failed"
grep -q 'bad input (exit 2): --device cuda:0: the NVIDIA driver' "$status" || fail "a sweep of CUDA trainers without a GPU: $status does not give the reason"
grep -q '"attempts": 1' "$status" || fail "a sweep of CUDA trainers without a GPU: the run was retried"
! grep -qi "panicked" "$tmp"/sweep/runs/*/stdout.log || fail "a sweep of CUDA trainers without a GPU: a trainer panicked"
echo "ok   a sweep of CUDA trainers without a GPU records: $(grep '"reason"' "$status" | head -n 1 | sed 's/^ *//')"
