#!/bin/sh
# Does multi-task training help? The same architecture trained on one task at a time, with the
# per-task share of the multi-task run's steps (1000 auxiliary + 600 language-model steps over
# nine tasks: 111 + 67 steps each), then evaluated on the same validation manifest.
#   scripts/single_task_ablation.sh [TASK ...]       (default: every task with a manifest)
set -e
PY=${PY:-.venv/bin/python}
TOKENIZER=$(pwd)/brainkit/assets/brainkit-base/tokenizer
TASKS=${*:-$(ls manifests/val_*.csv | sed 's/.*val_//; s/\.csv$//')}
mkdir -p runs/eval-single
for task in $TASKS; do
    run=runs/single-$task
    "$PY" -m brainkit train-decoder --task "$task" --steps 178 --aux-steps 111 --batch-size 16 \
        --lr 1e-3 --eval-every 100000 --ckpt-every 100 --threads 2 --run-dir "$run" --out "$run/ckpt/decoder" \
        2> "$run.log" > /dev/null
    ln -sfn "$TOKENIZER" "$run/ckpt/tokenizer"
    "$PY" -m brainkit evaluate --manifest "manifests/val_$task.csv" --checkpoint "$run/ckpt" \
        --out "runs/eval-single/$task.json" > /dev/null
    echo "single-task $task done" >&2
done
