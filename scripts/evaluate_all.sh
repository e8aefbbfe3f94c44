#!/bin/sh
# Evaluate a checkpoint on every validation manifest of the shared corpus (manifests/val_*.csv),
# one JSON per task. The model card's numbers come from this run.
#   scripts/evaluate_all.sh [CHECKPOINT_DIR] [OUT_DIR]     (defaults: shipped checkpoint, runs/eval)
set -e
CHECKPOINT=${1:-brainkit/assets/brainkit-base}
OUT=${2:-runs/eval}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
for manifest in manifests/val_*.csv; do
    task=$(basename "$manifest" .csv | sed 's/^val_//')
    echo "evaluate $task" >&2
    "$PY" -m brainkit evaluate --manifest "$manifest" --checkpoint "$CHECKPOINT" --out "$OUT/$task.json" > /dev/null
done
