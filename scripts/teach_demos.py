"""Write the inputs of README's "Teach a new task" table into a scratch folder (default runs/teach).

    python scripts/teach_demos.py [--data ../shared/data] [--out runs/teach]

1. ``eeglab_square.csv``: a teaching manifest of the EEGLAB sample's ``square`` stimuli, label =
   the event's ``position`` field (1 or 2; read from the ``.set`` file, which MNE's annotations
   do not keep), one 0.6-s window from each onset.
2. ``muse4/S001R01_muse4_raw.fif`` and ``S001R02_...``: EEGMMIDB S001's eyes-open and eyes-closed
   baselines cut to a Muse-like 4-channel montage (AF7, AF8, and T9/T10 standing in for the
   Muse's TP9/TP10), each annotated over its whole length as ``eyes_open`` / ``eyes_closed``.
3. ``motor_exec_R11.csv``: a test manifest of run 11's left/right fist movements (task
   ``motor_exec``), to score a pack taught on runs 3 and 7 with ``brainkit evaluate --tasks``.
4. ``mixed/S001R03_raw.fif``, ``S001R07_...``, ``S001R11_...``: the motor execution runs as a
   clinic's recordings may come: run 7 with its channels in reverse order, run 11 without Fp1
   and T10 (bad channels removed); ``flat/...``: the same runs, run 7 with Cz flat (zeros, a
   disconnected lead).
5. ``bonn_seizure.csv``: a seizure detector taught from a few dozen segments, as another
   hospital would (task ``seizure_site``): 20 ictal segments of Bonn set E and 20 of sets A-D
   (5 each), the first of each block of 20 segments (4 of E's), five 4-s windows per segment;
   ``subject`` is the block (``bonn-healthy-1``, as the corpus guesses people; every fold leaves
   whole blocks out).
6. ``eegmat_workload.csv``: mental arithmetic vs rest taught across people (task
   ``workload_site``): EEGMAT's first 12 subjects, the published protocol's windows (the last
   60 s of each recording, 4 s every 2 s); folds by subject.
7. ``bipolar/SubjectNN_1.edf`` ... and ``eegmat_bipolar.csv``: the same task as a hospital with
   another montage would record it (task ``workload_bipolar``): EEGMAT's next 12 subjects
   (12-23), each recording re-derived to the 18 leads of the longitudinal and parasagittal
   bipolar montage (``Fp1-F7`` ... ``Cz-Pz``, as CHB-MIT's EDFs name them) plus one lead stored
   twice (``T4-T6`` and ``T4-T6-dup``, as CHB-MIT holds ``T8-P8``), resampled to 256 Hz and
   written as EDF; the same windows and folds as 6.

Nothing here is copied into the repository (runs/ is ignored).
"""

import argparse
import csv
import os
from pathlib import Path

import numpy as np


def _write(rows, target: Path) -> Path:
    with open(target, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return target


def eeglab_manifest(data: Path, out: Path, window_s: float = 0.6) -> Path:
    import scipy.io as sio

    path = data / "eeglab_sample" / "eeglab_data.set"
    eeg = sio.loadmat(str(path), squeeze_me=True, struct_as_record=False)["EEG"]
    rows = [{"path": os.path.relpath(path, out), "task": "square_position", "label": f"position_{int(e.position)}",
             "start_s": f"{(float(e.latency) - 1) / float(eeg.srate):.6f}", "duration_s": f"{window_s:g}",
             "subject": "eeglab"} for e in eeg.event if e.type == "square"]
    return _write(rows, out / "eeglab_square.csv")


def muse_like(data: Path, out: Path) -> list[Path]:
    import mne

    folder = out / "muse4"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for run, label in (("R01", "eyes_open"), ("R02", "eyes_closed")):
        raw = mne.io.read_raw_edf(data / "eegmmidb" / "S001" / f"S001{run}.edf", preload=True, verbose="error")
        mne.datasets.eegbci.standardize(raw)
        raw.pick(["AF7", "AF8", "T9", "T10"])
        raw.set_annotations(mne.Annotations([0.0], [raw.times[-1]], [label]))
        target = folder / f"S001{run}_muse4_raw.fif"
        raw.save(target, overwrite=True, verbose="error")
        written.append(target)
    return written


def motor_manifest(data: Path, out: Path, run: str = "R11") -> Path:
    import mne

    path = data / "eegmmidb" / "S001" / f"S001{run}.edf"
    raw = mne.io.read_raw_edf(path, verbose="error")
    names = {"T1": "left", "T2": "right"}
    rows = [{"path": os.path.relpath(path, out), "task": "motor_exec", "label": names[d],
             "start_s": f"{o:.6f}", "duration_s": "4", "subject": "S001"}
            for o, d in zip(raw.annotations.onset, raw.annotations.description) if d in names
            and o + 4 <= raw.times[-1]]
    return _write(rows, out / f"motor_exec_{run}.csv")


def mixed_channels(data: Path, out: Path) -> list[Path]:
    import mne

    written = []
    for variant in ("mixed", "flat"):
        folder = out / variant
        folder.mkdir(parents=True, exist_ok=True)
        for run in ("R03", "R07", "R11"):
            raw = mne.io.read_raw_edf(data / "eegmmidb" / "S001" / f"S001{run}.edf", preload=True, verbose="error")
            mne.datasets.eegbci.standardize(raw)
            if variant == "mixed" and run == "R07":
                raw.reorder_channels(raw.ch_names[::-1])
            if variant == "mixed" and run == "R11":
                raw.drop_channels(["Fp1", "T10"])
            if variant == "flat" and run == "R07":
                raw.apply_function(lambda x: x * 0.0, picks=["Cz"])
            target = folder / f"S001{run}_raw.fif"
            raw.save(target, overwrite=True, verbose="error")
            written.append(target)
    return written


def bonn_manifest(data: Path, out: Path, per_block: dict | None = None) -> Path:
    from brainkit.data.corpora import BONN_BLOCK, BONN_SETS

    per_block = per_block or {"E_S": 4, "A_Z": 1, "B_O": 1, "C_N": 1, "D_F": 1}
    rows = []
    for folder, n in per_block.items():
        people, _, state = BONN_SETS[folder]
        files = sorted((data / "bonn" / folder).glob("*.[tT][xX][tT]"))
        for i, path in enumerate(files):
            if i % BONN_BLOCK < n:
                rows += [{"path": os.path.relpath(path, out), "task": "seizure_site",
                          "label": "seizure" if state == "seizure" else "none", "start_s": f"{4.0 * k:.6f}",
                          "duration_s": "4", "subject": f"bonn-{people}-{i // BONN_BLOCK + 1}", "sfreq": "173.61"}
                         for k in range(5)]
    return _write(rows, out / "bonn_seizure.csv")


#: The longitudinal ("double banana") and parasagittal bipolar leads of a 10-20 cap, in EEGMAT's
#: names (T3/T4/T5/T6 for T7/T8/P7/P8), and the lead CHB-MIT stores twice.
BIPOLAR = ("Fp1-F7", "F7-T3", "T3-T5", "T5-O1", "Fp2-F8", "F8-T4", "T4-T6", "T6-O2", "Fp1-F3", "F3-C3",
           "C3-P3", "P3-O1", "Fp2-F4", "F4-C4", "C4-P4", "P4-O2", "Fz-Cz", "Cz-Pz")
TWICE = "T4-T6"


def bipolar_edf(path: Path, target: Path) -> Path:
    """One EEGMAT recording as a hospital with a bipolar montage stores it (item 7)."""
    import mne

    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    data = {name.removeprefix("EEG "): row for name, row in zip(raw.ch_names, raw.get_data())}
    leads = [*BIPOLAR, TWICE]
    x = np.stack([data[a] - data[b] for a, b in (lead.split("-") for lead in leads)])
    info = mne.create_info([*BIPOLAR, f"{TWICE}-dup"], raw.info["sfreq"], "eeg")
    bipolar = mne.io.RawArray(x, info, verbose="error").resample(256.0, verbose="error")
    mne.export.export_raw(target, bipolar, fmt="edf", overwrite=True, verbose="error")
    return target


def eegmat_manifest(data: Path, out: Path, subjects=range(12), bipolar: bool = False) -> Path:
    import mne

    rows, task = [], "workload_bipolar" if bipolar else "workload_site"
    (out / "bipolar").mkdir(exist_ok=True)
    for subject in subjects:
        for run, label in (("1", "rest"), ("2", "arithmetic")):
            path = data / "eegmat" / f"Subject{subject:02d}_{run}.edf"
            if bipolar:
                path = bipolar_edf(path, out / "bipolar" / path.name)
            raw = mne.io.read_raw_edf(path, verbose="error")
            end = raw.n_times / raw.info["sfreq"]
            rows += [{"path": os.path.relpath(path, out), "task": task, "label": label,
                      "start_s": f"{end - 60 + 2 * k:.6f}", "duration_s": "4", "subject": f"Subject{subject:02d}"}
                     for k in range(29)]
    return _write(rows, out / ("eegmat_bipolar.csv" if bipolar else "eegmat_workload.csv"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default="runs/teach")
    parser.add_argument("--table", nargs="+", metavar="PACK", help="print README's table of these packs instead")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    data, out = Path(args.data).resolve(), Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for p in [eeglab_manifest(data, out), *muse_like(data, out), motor_manifest(data, out), *mixed_channels(data, out),
              bonn_manifest(data, out), eegmat_manifest(data, out),
              eegmat_manifest(data, out, subjects=range(12, 24), bipolar=True)]:
        print(p)
    onsets = np.sort([float(r["start_s"]) for r in csv.DictReader(open(out / "eeglab_square.csv"))])
    print(f"square stimuli: {len(onsets)}, shortest gap {np.diff(onsets).min():.2f} s")


def table(packs) -> str:
    """README's table rows from the reports of taught packs (task.json of each folder)."""
    import json

    from brainkit.viz.teach import gap_rows

    lines = ["| task | folds | windows per class (taught on) | method | 10 per class | 20 per class | 50 per class | all |",
             "|---|---|---|---|---|---|---|---|"]
    metas = [json.loads((Path(folder) / "task.json").read_text()) for folder in packs]
    for meta in metas:
        cv = meta["report"]["cross_validation"]
        counts = ", ".join(f"{k} {v}" for k, v in meta["report"]["class_counts"].items())
        for name, stats in cv["methods"].items():
            cells = []
            for n in ("10", "20", "50"):  # mean ± std over random draws of the training windows
                v = cv["curve"].get(n, {}).get(name)
                std = cv.get("curve_std", {}).get(n, {}).get(name)
                cells.append("-" if v is None else f"{100 * v:.1f}" + ("" if std is None else f" ± {100 * std:.1f}"))
            cells.append(f"{100 * stats['mean']:.1f} ± {100 * stats['std']:.1f} ({cv['train_per_class']})")
            lines.append(f"| {meta['id']} | {cv['n_folds']} by {cv['unit']} | {counts} | {name} | " + " | ".join(cells) + " |")
    lines += ["", "| task | kept head minus | 10 per class | 20 per class | 50 per class | all |", "|---|---|---|---|---|---|"]
    for meta in metas:  # paired differences, ± standard error
        for row in gap_rows(meta["report"]):
            cells = [row.get(f"{n} per class", "-") for n in ("10", "20", "50")]
            cells.append(next(v for k, v in row.items() if k.endswith("(all)")))
            lines.append(f"| {meta['id']} | {row['kept head minus']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
