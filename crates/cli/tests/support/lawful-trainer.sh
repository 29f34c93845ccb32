#!/usr/bin/env bash
# A stand-in for `saescale train <run file> --out <run dir>` whose held-out loss follows a known
# law, so that `saescale run` can be tested end to end (plan → train → fit → report) in seconds.
# Used by crates/cli/tests/report_cli.rs.
#
#   loss(F, S) = 1 + 40/F^0.5 + 60/S^0.5, times (1 + 0.002·sin(F + S)) as deterministic noise
#
# and, for a run with `k` in [sae] (a sweep's k axis), times (k/8)^-0.2, with L0 = k.
#
# With κ = 12·64·256 the compute-optimal F lies inside [128, 2048] for budgets 1e11..8e11.
# It writes 20 metrics.jsonl lines (the law at intermediate steps), then final.json atomically;
# LAWFUL_SLEEP seconds (default 0) pass before final.json, so that a test can catch runs mid-way.
set -u
if [ "${1:-}" != train ]; then echo "error: expected the train subcommand" >&2; exit 2; fi
run_file=$2
shift 2
out=""
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --device|--threads) shift 2 ;;
    *) echo "error: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "error: --out is required" >&2; exit 2; }
if [ -f "$out/final.json" ]; then echo "already finished"; exit 0; fi

section_value() { # section key
  awk -v sec="[$1]" -v key="$2" '$0 == sec {s=1; next} /^\[/ {s=0} s && $1 == key {print $3}' "$run_file"
}
features=$(section_value sae features)
steps=$(section_value train steps)
batch=$(section_value train batch_size)
k_latents=$(section_value sae k)
mkdir -p "$out"
: >"$out/metrics.jsonl"
for k in $(seq 1 20); do
  step=$((steps * k / 20)); [ "$step" -ge 1 ] || step=1
  awk -v f="$features" -v s="$step" -v b="$batch" \
    'BEGIN { printf "{\"step\":%d,\"tokens\":%d,\"loss\":%.9g}\n", s, s * b, 1 + 40 / sqrt(f) + 60 / sqrt(s) }' >>"$out/metrics.jsonl"
done
sleep "${LAWFUL_SLEEP:-0}"
awk -v f="$features" -v s="$steps" -v b="$batch" -v k="$k_latents" 'BEGIN {
  loss = (1 + 40 / sqrt(f) + 60 / sqrt(s)) * (1 + 0.002 * sin(f + s));
  l0 = 2000 / sqrt(f);
  if (k != "") { loss *= (k / 8) ^ -0.2; l0 = k }
  printf "{\"loss\":%.12g,\"mse\":0.1,\"fvu\":%.12g,\"l1\":0.3,\"l0\":%.6g,\"dead_fraction\":0.0,\"steps\":%d,\"tokens\":%d,\"wall_s\":0.1}\n", loss, (k != "") ? loss : 0.2, l0, s, s * b
}' >"$out/final.json.tmp"
mv "$out/final.json.tmp" "$out/final.json"
echo "done"
