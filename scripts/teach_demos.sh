#!/usr/bin/env bash
# README's "Teach a new task" tables: teach the demo tasks (20 draws per learning-curve point),
# score the held-out runs, print the tables. Run from the repository root after
# `python scripts/teach_demos.py` (about 18 minutes):
#     bash scripts/teach_demos.sh [PACKS_FOLDER]        (default runs/teach/packs)
set -euxo pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PY=${PY:-.venv/bin/python}
D=../shared/data/eegmmidb/S001
P=${1:-runs/teach/packs}
DRAWS=${DRAWS:-20}  # random draws averaged at each learning-curve point (teach's default: 5)
mkdir -p "$P"
$PY -m brainkit teach --from-annotations $D/S001R03.edf $D/S001R07.edf $D/S001R11.edf --map "T1=left,T2=right" \
    --window-s 4 --task motor_exec --threads 1 --draws $DRAWS --out "$P/motor_exec" > "$P/motor_exec.json"
$PY -m brainkit teach --from-annotations $D/S001R04.edf $D/S001R08.edf $D/S001R12.edf --map "T1=left,T2=right" \
    --window-s 4 --task motor_img --threads 1 --draws $DRAWS --out "$P/motor_img" > "$P/motor_img.json"
M=runs/teach/mixed
$PY -m brainkit teach --from-annotations $M/S001R03_raw.fif $M/S001R07_raw.fif $M/S001R11_raw.fif --map "T1=left,T2=right" \
    --window-s 4 --task motor_exec_mixed --threads 1 --draws $DRAWS --out "$P/motor_exec_mixed" > "$P/motor_exec_mixed.json"
F=runs/teach/flat
$PY -m brainkit teach --from-annotations $F/S001R03_raw.fif $F/S001R07_raw.fif $F/S001R11_raw.fif --map "T1=left,T2=right" \
    --window-s 4 --task motor_exec_flat --threads 1 --draws $DRAWS --out "$P/motor_exec_flat" > "$P/motor_exec_flat.json"
$PY -m brainkit teach --manifest runs/teach/eeglab_square.csv --event-locked --threads 1 --draws $DRAWS \
    --out "$P/square_position" > "$P/square.json"
for stride in 1 0.5; do
    $PY -m brainkit teach --from-annotations runs/teach/muse4/S001R01_muse4_raw.fif runs/teach/muse4/S001R02_muse4_raw.fif \
        --map eyes_open=open,eyes_closed=closed --window-s 4 --stride-s $stride --task eyes_muse --threads 1 --draws $DRAWS \
        --out "$P/eyes_muse_stride$stride" > "$P/eyes_muse_stride$stride.json"
done
$PY -m brainkit teach --manifest runs/teach/bonn_seizure.csv --threads 1 --draws $DRAWS \
    --out "$P/seizure_site" > "$P/seizure_site.json"
$PY -m brainkit teach --manifest runs/teach/eegmat_workload.csv --threads 1 --draws $DRAWS \
    --out "$P/workload_site" > "$P/workload_site.json"
$PY -m brainkit teach --manifest runs/teach/eegmat_bipolar.csv --threads 1 --draws $DRAWS \
    --out "$P/workload_bipolar" > "$P/workload_bipolar.json"
$PY -m brainkit teach --from-annotations $D/S001R03.edf $D/S001R07.edf --map "T1=left,T2=right" \
    --window-s 4 --task motor_exec --threads 1 --draws $DRAWS --out "$P/motor_exec_r3r7" > "$P/r3r7.json"
$PY -m brainkit evaluate --manifest runs/teach/motor_exec_R11.csv --tasks "$P/motor_exec_r3r7" > "$P/eval_r11.json"
$PY scripts/teach_heldout.py --train $D/S001R03.edf $D/S001R07.edf --test $D/S001R11.edf > "$P/heldout_r11.txt"
$PY scripts/teach_heldout.py --train $D/S001R04.edf $D/S001R08.edf --test $D/S001R12.edf > "$P/heldout_r12.txt"
$PY scripts/teach_demos.py --table "$P/motor_exec" "$P/motor_img" "$P/motor_exec_mixed" "$P/motor_exec_flat" "$P/square_position" "$P/eyes_muse_stride1" "$P/eyes_muse_stride0.5" \
    "$P/seizure_site" "$P/workload_site" "$P/workload_bipolar"
