"""Does the seizure task see a discharge on a few leads of a multichannel recording?

    python scripts/seizure_focal.py [--data ../shared/data] [--checkpoint DIR] [--recordings 6]

The seizure head is fitted on Bonn's one-channel segments; a hospital's recording has 19 leads or
more, and most seizures start focally. Here the first 20 s of EEGMAT resting recordings (healthy
people, 19 EEG leads at 500 Hz, never in seizure training) get a Bonn segment spliced into one
lead (T3) or three neighbouring leads (T3, T5, F7), scaled to the lead's own robust amplitude
(x1) or three times it (x3): an ictal segment (set E), or an interictal one (set D, the control:
no seizure). Then recordings of the corpus without seizures (the first 5 of EEGMMIDB, EEGMAT,
the EEGLAB sample and LEMON) for false alarms. A synthetic test (Bonn's ictal set is
intracranial), so it says what the reading can see, not what a hospital would score.

Readings of the same windows, the checkpoint's seizure head throughout (no language model):

- ``shipped``: the read-out as decoding reads it (regions pooled over the leads);
- ``any lead``: each lead read alone, as a one-channel recording (what the head was fitted on),
  the window's p(seizure) the highest lead's;
- ``two leads``: the same, the second-highest lead's (a discharge needs a field: one lead alone
  is an electrode until shown otherwise);
- ``any region``: each region's features read as if every region had them, the highest region's.

Prints the share of windows answered "seizure" (p > 0.5) per condition and reading, and the
false alarms per group with the leads that raised them. About 30 s.
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import numpy as np

SPLICES = {"T3": ("EEG T3",), "T3, T5, F7": ("EEG T3", "EEG T5", "EEG F7")}
BONN_HZ = 173.61
CLEAN_GROUPS = {"EEGMMIDB": "eegmmidb/*/*.edf", "EEGMAT": "eegmat/*.edf", "EEGLAB sample": "eeglab_sample/*.set",
                "LEMON": "formats/tuab_lemon/lemon_*/*.vhdr"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--recordings", type=int, default=6, help="EEGMAT resting recordings spliced")
    args = p.parse_args()

    import torch
    from scipy.signal import resample

    from brainkit.inference import Brainkit, readout_inputs
    from brainkit.io import read_recording, recording_from_raw
    from brainkit.models.readout import N_FEATURES, REGIONS
    from brainkit.preprocess import preprocess, sliding_windows
    from brainkit.quality import robust_std

    data = Path(args.data)
    bk = Brainkit(args.checkpoint)
    head, n_regions = bk.decoder.readout_heads["seizure"], len(REGIONS)

    def p_seizure(features: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(head(features.float()), -1)[:, 1].numpy()

    def readings(w) -> dict:
        """p(seizure) of every window under each reading, and the lead behind 'any lead'."""
        with torch.no_grad():
            pooled = readout_inputs(bk.decoder, w, "seizure")
            leads = np.stack([p_seizure(readout_inputs(bk.decoder, w.pick([c]), "seizure"))
                              for c in range(w.x.shape[1])], 1)  # (N, C)
        base, entropy = pooled[:, :N_FEATURES].reshape(len(pooled), n_regions, -1), pooled[:, N_FEATURES:]
        regions = np.stack([p_seizure(torch.cat([base[:, r:r + 1].expand(-1, n_regions, -1).flatten(1),
                                                 entropy[:, r:r + 1].expand(-1, n_regions)], 1))
                            for r in range(n_regions)], 1)
        ranked = np.sort(leads, 1)
        return {"shipped": p_seizure(pooled), "any lead": ranked[:, -1],
                "two leads": ranked[:, -2] if leads.shape[1] > 1 else ranked[:, -1],
                "any region": regions.max(1), "lead": np.array(w.sensors.names)[leads.argmax(1)]}

    def windows(recording):
        return sliding_windows(preprocess(recording, bk.preprocess_config), 4.0)

    names = ("shipped", "any lead", "two leads", "any region")
    print(f"{'condition':36s} " + " ".join(f"{n:>10s}" for n in names))
    resting = sorted(glob.glob(str(data / "eegmat/*_1.edf")))[:args.recordings]
    bonn = {s: sorted(glob.glob(str(data / f"bonn/{s}/*"))) for s in ("E_S", "D_F")}
    conditions = [("none", (), 1.0)] + [(s, leads, f) for s in ("E_S", "D_F") for leads in SPLICES for f in (1.0, 3.0)]
    for source, leads, factor in conditions:
        got = {n: [] for n in names}
        for i, path in enumerate(resting):
            raw = read_recording(path).raw.copy().crop(0, 20.0)
            if source != "none":
                segment = np.loadtxt(bonn[source][(7 * i) % len(bonn[source])]) * 1e-6  # µV -> V
                sfreq = raw.info["sfreq"]
                segment = resample(segment, int(round(len(segment) / BONN_HZ * sfreq)))[:raw.n_times]
                for lead in SPLICES[leads]:
                    c = raw.ch_names.index(lead)
                    raw._data[c, :len(segment)] = (segment / robust_std(segment)
                                                   * robust_std(raw._data[c, :len(segment)]) * factor)
            r = readings(windows(recording_from_raw(raw, Path(path).name)))
            for n in names:
                got[n].append(r[n])
        label = "no splice" if source == "none" else f"{'ictal' if source == 'E_S' else 'interictal'} on {leads}, x{factor:g}"
        print(f"{label:36s} " + " ".join(f"{np.mean(np.concatenate(got[n]) > 0.5):10.2f}" for n in names), flush=True)

    print("\nfalse alarms on recordings without seizures (windows answered 'seizure')")
    for group, pattern in CLEAN_GROUPS.items():
        alarms, total, where = {n: 0 for n in names}, 0, []
        for path in sorted(glob.glob(str(data / pattern)))[:5]:
            r = readings(windows(read_recording(path)))
            total += len(r["shipped"])
            for n in names:
                alarms[n] += int((r[n] > 0.5).sum())
            where += [f"{Path(path).name}:{lead}" for lead in r["lead"][r["any lead"] > 0.5]]
        print(f"{group:14s} {total:4d} windows: " + ", ".join(f"{n} {alarms[n]}" for n in names)
              + (f"; 'any lead' from {', '.join(sorted(set(where)))}" if where else ""), flush=True)


if __name__ == "__main__":
    main()
