"""The simulated recordings against real ones, feature by feature (the calibration table).

The simulators' physiology (alpha power relative to the background, the background's 1/f
exponent, sleep rhythms, spindles and slow waves, microvolt levels) is set so that the spectral
features that decide a task fall inside the range of the real recordings of the same class:

- **eyes**: :func:`~brainkit.data.simulate.simulate_eyes` (4-s windows) against EEGMMIDB S001 R01
  (open) / R02 (closed) and Bonn sets A (open) / B (closed);
- **sleep_stage**: :func:`~brainkit.data.simulate.simulate_sleep` (30-s epochs) against the
  DREAMS excerpts' scored epochs.

Features are computed by the caller's read-out (``brainkit.models.readout``: this package, a
data layer, does not import the models), on windows preprocessed exactly as the decoder sees
them. "Inside" means the simulated class median lies between the 10th and 90th percentiles of the
real windows of that class. Reproduce the table (about a minute)::

    python -c "import brainkit.models.readout as r; from brainkit.data.simulate.calibrate import *; print(markdown(calibration_table(r)))"

Measured with seed 0 (``rel_*``: log of the fraction of 1-45 Hz power; slope of log10 power
against log10 frequency; ``relative_amplitude``: log amplitude over the window's median channel,
EEGMMIDB only, Bonn having one channel):

| task | feature | class | real p10 | real median | real p90 | simulated | inside |
|---|---|---|---|---|---|---|---|
| eyes | posterior rel_alpha | open | -2.02 | -1.46 | -1.04 | -1.92 | yes |
| eyes | posterior rel_alpha | closed | -1.76 | -0.73 | -0.27 | -0.42 | yes |
| eyes | occipital rel_alpha | open | -2.03 | -1.46 | -1.04 | -1.76 | yes |
| eyes | occipital rel_alpha | closed | -1.76 | -0.73 | -0.27 | -0.26 | no |
| eyes | whole rel_alpha | open | -2.04 | -1.46 | -1.04 | -2.52 | no |
| eyes | whole rel_alpha | closed | -1.76 | -0.78 | -0.27 | -0.95 | yes |
| eyes | posterior log_alpha/theta | open | -0.55 | 0.23 | 0.89 | 0.23 | yes |
| eyes | posterior log_alpha/theta | closed | 0.00 | 1.23 | 2.54 | 2.33 | yes |
| eyes | posterior aperiodic_slope | open | -2.23 | -1.87 | -1.35 | -1.71 | yes |
| eyes | posterior aperiodic_slope | closed | -2.21 | -1.91 | -1.48 | -1.64 | yes |
| eyes | posterior alpha_peak_hz | open | 9.47 | 10.69 | 11.63 | 10.07 | yes |
| eyes | posterior alpha_peak_hz | closed | 9.70 | 10.87 | 11.86 | 10.11 | yes |
| eyes | posterior alpha_prominence | open | 0.31 | 0.58 | 0.89 | 0.51 | yes |
| eyes | posterior alpha_prominence | closed | 0.58 | 1.15 | 1.81 | 1.59 | yes |
| eyes | posterior relative_amplitude | open | 0.10 | 0.17 | 0.31 | -0.03 | no |
| eyes | posterior relative_amplitude | closed | 0.44 | 0.50 | 0.54 | 0.25 | no |
| sleep_stage | whole rel_slow | W | -1.34 | -0.51 | 0.35 | -0.54 | yes |
| sleep_stage | whole rel_slow | N1 | -1.09 | -0.60 | 0.01 | -0.30 | yes |
| sleep_stage | whole rel_slow | N2 | -1.18 | -0.58 | 0.03 | -0.08 | yes |
| sleep_stage | whole rel_slow | N3 | -0.67 | -0.22 | 0.19 | -0.00 | yes |
| sleep_stage | whole rel_slow | REM | -0.43 | -0.36 | -0.28 | -0.12 | no |
| sleep_stage | whole rel_delta | W | -0.86 | -0.53 | -0.15 | -0.75 | yes |
| sleep_stage | whole rel_delta | N1 | -0.70 | -0.50 | -0.21 | -0.51 | yes |
| sleep_stage | whole rel_delta | N2 | -0.48 | -0.32 | -0.20 | -0.31 | yes |
| sleep_stage | whole rel_delta | N3 | -0.30 | -0.19 | -0.12 | -0.21 | yes |
| sleep_stage | whole rel_delta | REM | -0.23 | -0.19 | -0.14 | -0.25 | no |
| sleep_stage | whole rel_theta | W | -3.14 | -1.76 | -1.41 | -1.73 | yes |
| sleep_stage | whole rel_theta | N1 | -2.36 | -1.54 | -1.29 | -1.41 | yes |
| sleep_stage | whole rel_theta | N2 | -2.36 | -1.86 | -1.49 | -1.70 | yes |
| sleep_stage | whole rel_theta | N3 | -2.68 | -2.24 | -1.84 | -1.94 | yes |
| sleep_stage | whole rel_theta | REM | -2.60 | -2.41 | -2.21 | -1.98 | no |
| sleep_stage | whole rel_alpha | W | -3.47 | -2.27 | -1.71 | -1.62 | no |
| sleep_stage | whole rel_alpha | N1 | -2.76 | -2.24 | -1.95 | -2.42 | yes |
| sleep_stage | whole rel_alpha | N2 | -3.18 | -2.66 | -2.29 | -3.14 | yes |
| sleep_stage | whole rel_alpha | N3 | -3.59 | -3.14 | -2.68 | -3.56 | yes |
| sleep_stage | whole rel_alpha | REM | -3.18 | -2.88 | -2.60 | -2.91 | yes |
| sleep_stage | whole rel_sigma | W | -3.50 | -2.73 | -2.53 | -2.80 | yes |
| sleep_stage | whole rel_sigma | N1 | -3.61 | -2.88 | -2.53 | -3.53 | yes |
| sleep_stage | whole rel_sigma | N2 | -3.69 | -3.06 | -2.51 | -2.96 | yes |
| sleep_stage | whole rel_sigma | N3 | -4.31 | -3.66 | -2.91 | -4.17 | yes |
| sleep_stage | whole rel_sigma | REM | -4.24 | -3.61 | -3.25 | -3.91 | yes |
| sleep_stage | whole rel_beta | W | -3.30 | -2.29 | -1.61 | -2.00 | yes |
| sleep_stage | whole rel_beta | N1 | -3.88 | -2.90 | -2.34 | -2.80 | yes |
| sleep_stage | whole rel_beta | N2 | -3.89 | -3.23 | -2.69 | -3.33 | yes |
| sleep_stage | whole rel_beta | N3 | -4.44 | -3.88 | -3.31 | -4.23 | yes |
| sleep_stage | whole rel_beta | REM | -4.61 | -4.02 | -3.65 | -3.67 | yes |
| sleep_stage | whole aperiodic_slope | W | -4.71 | -1.82 | -1.37 | -1.39 | yes |
| sleep_stage | whole aperiodic_slope | N1 | -4.92 | -2.81 | -2.45 | -2.07 | no |
| sleep_stage | whole aperiodic_slope | N2 | -4.84 | -2.97 | -2.52 | -2.86 | yes |
| sleep_stage | whole aperiodic_slope | N3 | -3.32 | -3.08 | -2.61 | -2.88 | yes |
| sleep_stage | whole aperiodic_slope | REM | -2.88 | -2.64 | -2.54 | -2.47 | no |
| sleep_stage | whole edge_hz | W | 6.70 | 13.00 | 19.90 | 21.50 | no |
| sleep_stage | whole edge_hz | N1 | 7.50 | 10.00 | 12.50 | 10.50 | yes |
| sleep_stage | whole edge_hz | N2 | 6.00 | 8.50 | 11.00 | 6.50 | yes |
| sleep_stage | whole edge_hz | N3 | 4.00 | 5.50 | 8.40 | 5.50 | yes |
| sleep_stage | whole edge_hz | REM | 4.90 | 6.00 | 8.00 | 6.50 | yes |

45 of 56 rows inside (80%). Outside: eyes-closed occipital alpha a little strong,
the posterior amplitude excess smaller than EEGMMIDB's, and wake's 90 % spectral edge high; REM
rows compare with one excerpt's 5 epochs (DREAMS has no other REM).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

#: (task, region, feature, datasets compared with): the features that decide each task
EYES_ROWS = tuple(("eyes", region, name, ("eegmmidb", "bonn")) for region, name in (
    ("posterior", "rel_alpha"), ("occipital", "rel_alpha"), ("whole", "rel_alpha"),
    ("posterior", "log_alpha/theta"), ("posterior", "aperiodic_slope"),
    ("posterior", "alpha_peak_hz"), ("posterior", "alpha_prominence"))) + (
    ("eyes", "posterior", "relative_amplitude", ("eegmmidb",)),)
SLEEP_ROWS = tuple(("sleep_stage", "whole", name, ("dreams",)) for name in (
    "rel_slow", "rel_delta", "rel_theta", "rel_alpha", "rel_sigma", "rel_beta", "aperiodic_slope",
    "edge_hz"))
#: the real percentiles that bound "inside"
RANGE_PERCENTILES = (10, 90)
_SIM_LABELS = {"eyes open": "open", "eyes closed": "closed", "Sleep stage W": "W",
               "Sleep stage N1": "N1", "Sleep stage N2": "N2", "Sleep stage N3": "N3",
               "Sleep stage R": "REM"}


def _features(readout, windows) -> np.ndarray:
    """Read-out features of ``windows`` (N, F) as a numpy array."""
    import torch

    s = windows.sensors
    x = torch.from_numpy(np.ascontiguousarray(windows.x))
    with torch.no_grad():
        return readout.readout_features(x, windows.sfreq, s.pos, s.has_position, windows.scale).numpy()


def _column(readout, region: str, name: str) -> int:
    return readout.REGIONS.index(region) * len(readout.FEATURE_NAMES) + readout.FEATURE_NAMES.index(name)


def _centre_labels(annotations, starts_s, window_s) -> np.ndarray:
    """The annotation (mapped by :data:`_SIM_LABELS`) holding each window's centre, shape (N,)."""
    labels = np.full(len(starts_s), "", dtype=object)
    for onset, duration, text in zip(annotations.onset, annotations.duration, annotations.description):
        centre = np.asarray(starts_s) + window_s / 2
        labels[(centre >= onset) & (centre < onset + duration)] = _SIM_LABELS.get(text, "")
    return labels


def simulated_windows(task: str, seed: int = 0):
    """The sample recording of ``task`` as the decoder sees it: (windows, labels (N,)).

    Written to a temporary EDF first (16-bit, as the shipped sample), then read back,
    preprocessed and cut into the task's windows.
    """
    from brainkit.data.simulate.eeg import simulate_eyes
    from brainkit.data.simulate.sleep import simulate_sleep
    from brainkit.data.simulate.write import _write_edf
    from brainkit.io import read_recording
    from brainkit.preprocess import preprocess, sliding_windows
    from brainkit.tasks import get_task

    window_s = get_task(task).window_s
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sample.edf"
        if task == "eyes":
            _write_edf(simulate_eyes(seed=seed), path)
        else:
            _write_edf(simulate_sleep(seed=seed), path, add_ch_type=True)
        recording = read_recording(path)
        windows = sliding_windows(preprocess(recording), window_s, window_s)
    return windows, _centre_labels(recording.raw.annotations, windows.starts_s, window_s)


def calibration_table(readout, data_dir=None, seed: int = 0) -> list[dict]:
    """Simulated against real read-out features, per task, feature and class.

    Parameters
    ----------
    readout : module
        ``brainkit.models.readout`` (anything with ``readout_features``, ``REGIONS`` and
        ``FEATURE_NAMES``).
    data_dir : path or None
        The real corpus (default ``../shared/data``).
    seed : int
        The simulators' seed (0: the shipped samples).

    Returns
    -------
    rows : list of dict
        ``task, feature, label, real_p10, real_median, real_p90, simulated, inside, n_real,
        n_simulated``; ``simulated`` is the median over the simulated windows of the class.
    """
    from brainkit.data.corpora import load_task

    rows = []
    for task, table in (("eyes", EYES_ROWS), ("sleep_stage", SLEEP_ROWS)):
        real = {}
        for s in load_task(task, data_dir):
            dataset = s.source.split("/")[0]
            real.setdefault(dataset, []).append((_features(readout, s.windows), s.windows.labels))
        windows, sim_labels = simulated_windows(task, seed)
        simulated = _features(readout, windows)
        for _, region, name, datasets in table:
            col = _column(readout, region, name)
            pairs = [pair for d in datasets for pair in real.get(d, [])]
            values = np.concatenate([f[:, col] for f, _ in pairs])
            labels = np.concatenate([lab for _, lab in pairs])
            for label in dict.fromkeys(_SIM_LABELS[k] for k in _SIM_LABELS
                                       if (k.startswith("eyes") == (task == "eyes"))):
                ref, sim = values[labels == label], simulated[sim_labels == label, col]
                if not len(ref) or not len(sim):
                    continue
                lo, mid, hi = np.percentile(ref, (RANGE_PERCENTILES[0], 50, RANGE_PERCENTILES[1]))
                value = float(np.median(sim))
                rows.append(dict(task=task, feature=f"{region} {name}", label=label,
                                 real_p10=float(lo), real_median=float(mid), real_p90=float(hi),
                                 simulated=value, inside=bool(lo <= value <= hi),
                                 n_real=int(len(ref)), n_simulated=int(len(sim))))
    return rows


def markdown(rows: list[dict]) -> str:
    """:func:`calibration_table` rows as a Markdown table."""
    lines = ["| task | feature | class | real p10 | real median | real p90 | simulated | inside |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['feature']} | {r['label']} | {r['real_p10']:.2f} | "
                     f"{r['real_median']:.2f} | {r['real_p90']:.2f} | {r['simulated']:.2f} | "
                     f"{'yes' if r['inside'] else 'no'} |")
    return "\n".join(lines)
