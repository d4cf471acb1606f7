#!/usr/bin/env bash
# Cost as the work grows: samples/s, events per sample, synapses, estimated memory and peak
# resident memory of models/mnist.yaml at hidden widths 300, 1000 and 3000 (two hidden layers,
# full wiring) and at 300-300 with random fan-in 10% and 1% of the layer below, on both
# engines at 1 and 2 threads; then the peak memory of a short models/mnist.yaml training run.
# Prints one markdown table (BENCHMARKS.md, "Cost as the work grows"). Cells run one at a time.
#
#   BSP_SIM_DATA=/work/shared/data benches/cost.sh            # builds with cargo first
#   BSP_SIM=target/release/bsp-sim benches/cost.sh            # an existing binary
#
# Per configuration: `bsp-sim validate` (synapses, estimated memory); `bsp-sim bench` with
# `engine: sync --threads 2` (1 and 2 threads, dense and sparse input drive, interleaved in
# one process); `bsp-sim bench` with `engine: async` at 1 and at 2 threads (each also times
# the sync engine with coupling: delayed on the same samples, in the same process); and per
# engine and thread count one training minibatch (`bsp-sim run --train-limit BATCH`) under
# /usr/bin/time -v for the peak resident set (one engine, data limited to that minibatch).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${BSP_SIM:-}" ]]; then
    cargo build --release --quiet
    BSP_SIM=target/release/bsp-sim
fi
MODEL=models/mnist.yaml
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# name | layers | connectivity | batch | sync samples | async samples
CONFIGS=(
    "300-300 full|[784, 300, 300, 10]|[{kind: full}]|50|200|100"
    "1000-1000 full|[784, 1000, 1000, 10]|[{kind: full}]|50|50|50"
    "3000-3000 full|[784, 3000, 3000, 10]|[{kind: full}]|10|20|20"
    "300-300 fan-in 10%|[784, 300, 300, 10]|[{kind: random, fan_in: 78}, {kind: random, fan_in: 30}, {kind: random, fan_in: 30}]|50|200|100"
    "300-300 fan-in 1%|[784, 300, 300, 10]|[{kind: random, fan_in: 8}, {kind: random, fan_in: 3}, {kind: random, fan_in: 3}]|50|200|200"
)

# Peak resident set in MB of the command's run (its stdout to $OUT/stdout).
peak_mb() {
    /usr/bin/time -v "$@" >"$OUT/stdout" 2>"$OUT/time"
    awk '/Maximum resident set size/ {printf "%.0f", $NF / 1024}' "$OUT/time"
}

echo "| wiring | batch | synapses | est. memory | engine | threads | samples timed | samples/s | events / sample | peak RSS, 1 minibatch |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for c in "${CONFIGS[@]}"; do
    IFS='|' read -r name layers conn batch sync_n async_n <<<"$c"
    sets=(--set "network.layers=$layers" --set "network.connectivity=$conn"
        --set "learning.batch_size=$batch")
    "$BSP_SIM" validate "$MODEL" "${sets[@]}" >"$OUT/validate"
    synapses=$(awk '$1 == "synapses" {print $2}' "$OUT/validate")
    memory=$(awk '$1 == "memory" {print $2, $3}' "$OUT/validate")
    "$BSP_SIM" bench "$MODEL" "${sets[@]}" --set engine=sync --samples "$sync_n" --threads 2 \
        >"$OUT/sync"
    for t in 1 2; do
        rss=$(peak_mb "$BSP_SIM" run "$MODEL" "${sets[@]}" --set engine=sync --epochs 1 \
            --train-limit "$batch" --test-limit 10 --threads "$t" -q --no-trace --out "$OUT")
        rate=$(awk -v t="$t" '$1 == t && ($2 == "dense" || $2 == "sparse") {
            s = s (s ? " / " : "") $3 " " $2 } END {print s}' "$OUT/sync")
        echo "| $name | $batch | $synapses | $memory | sync | $t | $sync_n x 2 rounds | $rate | | $rss MB |"
    done
    for t in 1 2; do
        "$BSP_SIM" bench "$MODEL" "${sets[@]}" --set engine=async --samples "$async_n" \
            --threads "$t" >"$OUT/async"
        rss=$(peak_mb "$BSP_SIM" run "$MODEL" "${sets[@]}" --set engine=async --epochs 1 \
            --train-limit "$batch" --test-limit 10 --threads "$t" -q --no-trace --out "$OUT")
        rate=$(awk '$1 == "async" && $2 != "/" {print $4} $1 == "sync" {print $4}' "$OUT/async" |
            paste -sd' ' | awk '{printf "%s (sync, delayed: %s; async / sync %.3f)", $1, $2, $1 / $2}')
        events=$(awk '$1 == "async" && $2 != "/" {print $6}' "$OUT/async")
        echo "| $name | $batch | $synapses | $memory | async | $t | $async_n | $rate | $events | $rss MB |"
    done
done

echo
echo "Peak memory of models/mnist.yaml training (\`bsp-sim run models/mnist.yaml --epochs 1 --train-limit 2000 --test-limit 500\`, all cores):"
"$BSP_SIM" validate "$MODEL" >"$OUT/validate"
rss=$(peak_mb "$BSP_SIM" run "$MODEL" --epochs 1 --train-limit 2000 --test-limit 500 -q \
    --no-trace --out "$OUT")
echo "$(awk '$1 == "memory" {print $2, $3}' "$OUT/validate") estimated, $rss MB peak resident set."
echo
echo "Measured on (as \`bsp-sim bench\` reports it):"
echo
head -3 "$OUT/sync" | sed 's/^/    /'
