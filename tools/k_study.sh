#!/bin/sh
# The K study of docs/METHOD.md §3 (issue 15): for each concept method and K, trace the first N
# Fashion-MNIST test images through the demo model, evaluate them (METHOD §8), and print one table
# row: R² per layer, median reconstruction gap, median end-to-end completeness error, the error
# node's median share, GIG − random deletion AUC per block, trace and evaluation time.
# Usage: tools/k_study.sh [N] [OUTDIR] ["kmeans:8 kmeans:16 kmeans:32,64,128 ..."]   (from the repository
# root; K with commas is one K per traced layer, e.g. 2·C = 32,64,128 for the demo's 16/32/64 channels)
set -eu
N=${1:-100}
OUT=${2:-/tmp/k-study}
RUNS=${3:-"kmeans:8 kmeans:16 kmeans:32 kmeans:64 kmeans:128 nmf:16 nmf:32 pca:16"}
BIN=${BIN:-.build/release/gigtrace}
mkdir -p "$OUT"
for run in $RUNS; do
    method=${run%%:*}; k=${run##*:}
    trace="$OUT/$method-$k.sqlite"
    case "$k" in *,*) kflag=--k-per-layer ;; *) kflag=--k ;; esac
    start=$(date +%s)
    "$BIN" trace --limit "$N" --concepts "$method" "$kflag" "$k" --out "$trace" --force --quiet
    mid=$(date +%s)
    "$BIN" evaluate "$trace" --images "$N" --json "$OUT/$method-$k.eval.json" --quiet > /dev/null
    end=$(date +%s)
    "$BIN" query "$trace" summary --json > "$OUT/$method-$k.summary.json"
    python3 - "$OUT/$method-$k.summary.json" "$OUT/$method-$k.eval.json" "$method" "$k" $((mid - start)) $((end - mid)) <<'PY'
import json, sys
s, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
f = s["faithfulness"]
r2 = " / ".join(f"{l['r2']:.2f}" for l in s["layers"])
e2e = " / ".join(f"{100 * l['endToEndErrorMedian']:.2f}" for l in f["layers"])
share = " / ".join(f"{100 * (l.get('errorShareMedian') or 0):.0f}" for l in f["layers"])
diff = " / ".join(f"{b['orders'][0]['deletionMinusRandom']['mean']:+.3f}" for b in e["blocks"])
print(f"| {sys.argv[3]} | {sys.argv[4]} | {r2} | {100 * f['reconstructionGapMedian']:.1f} | {e2e} | {share} | {diff} | {sys.argv[5]} s | {sys.argv[6]} s |")
PY
done
