#!/bin/sh
# The K study of docs/METHOD.md §3 (issue 15): for each concept method and K, trace the first N
# Fashion-MNIST test images through the demo model, evaluate them (METHOD §8), and print one table
# row: R² per layer, median reconstruction gap, median end-to-end completeness error, the error
# node's median share, GIG − random deletion AUC per block, trace and evaluation time (wall, and CPU
# in parentheses: the wall time of a shared machine says little).
# Usage: tools/k_study.sh [N] [OUTDIR] ["kmeans:8 kmeans:16 kmeans:32,64,128 kmeans:64:0.02 ..."]   (from the
# repository root; K with commas is one K per traced layer, e.g. 2·C = 32,64,128 for the demo's 16/32/64
# channels; an optional third field is the coding λ, default 0.1; THREADS (default 1) is passed to both commands,
# EXTRA to trace, e.g. EXTRA="--target coefficient"; EVAL_IMAGES (default N) images are evaluated)
set -eu
N=${1:-100}
OUT=${2:-/tmp/k-study}
RUNS=${3:-"kmeans:8 kmeans:16 kmeans:32 kmeans:64 kmeans:128 nmf:16 nmf:32 pca:16"}
BIN=${BIN:-.build/release/gigtrace}
THREADS=${THREADS:-1}
EVAL_IMAGES=${EVAL_IMAGES:-$N}
EXTRA=${EXTRA:-}
mkdir -p "$OUT"
for run in $RUNS; do
    method=${run%%:*}; rest=${run#*:}; k=${rest%%:*}
    case "$rest" in *:*) lambda=${rest#*:} ;; *) lambda=0.1 ;; esac
    name="$method-$k-l$lambda"
    trace="$OUT/$name.sqlite"
    case "$k" in *,*) kflag=--k-per-layer ;; *) kflag=--k ;; esac
    # shellcheck disable=SC2086
    /usr/bin/time -f "%e %U %S" -o "$OUT/$name.trace.time" "$BIN" trace --limit "$N" --concepts "$method" "$kflag" "$k" --lambda "$lambda" --threads "$THREADS" $EXTRA \
        --out "$trace" --force --quiet
    /usr/bin/time -f "%e %U %S" -o "$OUT/$name.eval.time" "$BIN" evaluate "$trace" --images "$EVAL_IMAGES" --threads "$THREADS" --json "$OUT/$name.eval.json" --quiet > /dev/null
    "$BIN" query "$trace" summary --json > "$OUT/$name.summary.json"
    python3 - "$OUT/$name.summary.json" "$OUT/$name.eval.json" "$method" "$k" "$lambda" "$OUT/$name.trace.time" "$OUT/$name.eval.time" <<'PY'
import json, sys
s, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
def took(path):  # wall (CPU) seconds from /usr/bin/time's "%e %U %S"
    wall, user, system = map(float, open(path).read().split()[-3:])
    return f"{wall:.0f} s ({user + system:.0f} s)"
f = s["faithfulness"]
r2 = " / ".join(f"{l['r2']:.2f}" for l in s["layers"])
e2e = " / ".join(f"{100 * l['endToEndErrorMedian']:.2f}" for l in f["layers"])
share = " / ".join(f"{100 * (l.get('errorShareMedian') or 0):.0f}" for l in f["layers"])
diff = " / ".join(f"{b['orders'][0]['deletionMinusRandom']['mean']:+.3f}" for b in e["blocks"])
print(f"| {sys.argv[3]} | {sys.argv[4]} | {sys.argv[5]} | {r2} | {100 * f['reconstructionGapMedian']:.1f} | {e2e} | {share} | {diff} | {took(sys.argv[6])} | {took(sys.argv[7])} |")
PY
done
