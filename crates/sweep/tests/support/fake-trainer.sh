#!/usr/bin/env bash
# A stand-in for `saescale train <run file> --out <run dir> [--device D] [--threads N]` that
# follows the trainer's contract (files and exit codes) without training anything, so the
# executor and the CLI can be tested in seconds. Used by crates/sweep/tests and
# crates/cli/tests/sweep_cli.rs.
#
# It works through 10 chunks of FAKE_CHUNK_SECONDS (default 0.05) each, appending a
# metrics.jsonl line and saving checkpoint/trainer_state after every chunk, and writes
# final.json last (atomically). SIGTERM/SIGINT: checkpoint, exit 75. A finished run dir
# exits 0 at once. Every start is logged to <run dir>/starts.log as "scratch" or
# "resume <chunk>", and the placement to <run dir>/placement.log.
#
# Knobs (environment): FAKE_FAIL_FEATURES="256,512" exit 1 with an error line for those F;
# FAKE_BAD_FEATURES likewise with exit 2; FAKE_IGNORE_TERM=1 ignores SIGTERM;
# FAKE_SPAWN_CHILD=1 leaves a `sleep` grandchild in the process group; FAKE_LOSS,
# FAKE_TOKENS_PER_S and FAKE_PEAK_RSS set what final.json reports (default 0.1, 1000.0 and
# 100000000), to stand in for a trainer that got worse.
set -u
if [ "${1:-}" != train ]; then echo "error: expected the train subcommand" >&2; exit 2; fi
run_file=$2
shift 2
out="" device="" threads=""
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
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
echo "device=$device threads=$threads CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}" >>"$out/placement.log"

case ",${FAKE_FAIL_FEATURES:-}," in *",$features,"*) echo "step 0"; echo "error: injected failure at F = $features" >&2; exit 1 ;; esac
case ",${FAKE_BAD_FEATURES:-}," in *",$features,"*) echo "error: bad run file at F = $features" >&2; exit 2 ;; esac

mkdir -p "$out/checkpoint"
chunk=0
if [ -f "$out/checkpoint/trainer_state" ]; then
  chunk=$(cat "$out/checkpoint/trainer_state")
  echo "resume $chunk" >>"$out/starts.log"
  echo "resuming from chunk $chunk"
else
  echo "scratch" >>"$out/starts.log"
fi
[ "${FAKE_SPAWN_CHILD:-0}" = 1 ] && { sleep 1000 & }

stop=0
if [ "${FAKE_IGNORE_TERM:-0}" = 1 ]; then trap '' TERM; else trap 'stop=1' TERM INT; fi
checkpoint() { echo "$chunk" >"$out/checkpoint/trainer_state.tmp" && mv "$out/checkpoint/trainer_state.tmp" "$out/checkpoint/trainer_state"; }

while [ "$chunk" -lt 10 ]; do
  sleep "${FAKE_CHUNK_SECONDS:-0.05}" &
  wait $! 2>/dev/null
  if [ "$stop" = 1 ]; then checkpoint; echo "interrupted at chunk $chunk" >&2; exit 75; fi
  chunk=$((chunk + 1))
  step=$((steps * chunk / 10))
  echo "{\"step\":$step,\"tokens\":$((step * batch)),\"loss\":$(awk -v c=$chunk 'BEGIN{print 1/c}'),\"tokens_per_s\":1000.0,\"elapsed_s\":0.1}" >>"$out/metrics.jsonl"
  checkpoint
done
provenance="{\"version\":\"0.1.0\",\"commit\":\"unknown\",\"device\":\"cpu (fake)\",\"precision\":\"f32\",\"threads\":1,\"host\":\"fake\",\"peak_rss_bytes\":${FAKE_PEAK_RSS:-100000000}}"
echo "{\"loss\":${FAKE_LOSS:-0.1},\"mse\":0.05,\"fvu\":0.2,\"l1\":0.01,\"l0\":12.0,\"dead_fraction\":0.0,\"tokens_per_s\":${FAKE_TOKENS_PER_S:-1000.0},\"flops\":1.0,\"steps\":$steps,\"tokens\":$((steps * batch)),\"wall_s\":0.5,\"provenance\":$provenance}" >"$out/final.json.tmp"
mv "$out/final.json.tmp" "$out/final.json"
echo "done"
exit 0
