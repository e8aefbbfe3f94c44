"""How often the seizure task answers "seizure" on recordings without seizures, by device.

    python scripts/seizure_false_alarms.py [--data ../shared/data] [--checkpoint DIR] [--per-group 12]

Decodes ``seizure`` over recordings in the corpus that hold no seizure and that the seizure
task was not trained on: EEGMMIDB (64 channels), EEGMAT (21), the EEGLAB sample (32), the Muse
headset (4), the DREAMS nights (1 central channel), the MEG systems, the format samples
(``formats/``: test files of readers, some with synthetic or heavily filtered signals), a LEMON
resting recording (another lab, 61 channels) and three Temple University Hospital exports (whose
electrodes hold no signal: refused), at most ``--per-group`` recordings of each. Prints, per
recording, the windows answered "seizure" (or why it was refused) and
the median over its first 30 windows of the whole head's sample entropy (at 128 Hz; low is
regular, as a seizure's discharge), then per group the share of windows answered "seizure".
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import numpy as np

GROUPS = {"EEGMMIDB": "eegmmidb/*/*.edf", "EEGMAT": "eegmat/*.edf", "EEGLAB sample": "eeglab_sample/*.set",
          "Muse": "muse/*/*/subject*/*/*.csv.gz", "DREAMS": "dreams/excerpt*", "MEG": "meg/*",
          "format samples": "formats/*/*.*", "LEMON": "formats/tuab_lemon/lemon_*/*.vhdr",
          "TUH exports": "formats/tuab_lemon/tuab_*/*.edf"}
DREAMS_HZ = {"excerpt1": 100.0, "excerpt2": 200.0, "excerpt3": 50.0, "excerpt5": 200.0, "excerpt6": 200.0,
             "excerpt7": 200.0}  #: the single-channel text files' rates (the corpus's README)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--per-group", type=int, default=12, help="recordings per group at most (in name order)")
    args = p.parse_args()

    from brainkit.errors import BrainkitError
    from brainkit.inference import Brainkit, window_regularity
    from brainkit.io import read_recording
    from brainkit.preprocess import preprocess, sliding_windows

    bk = Brainkit(args.checkpoint)
    for group, pattern in GROUPS.items():
        alarms = windows = 0
        for path in sorted(glob.glob(str(Path(args.data) / pattern)))[:args.per_group]:
            try:
                rate = DREAMS_HZ.get(Path(path).name.split(".")[0]) if path.endswith(".txt.gz") else None
                recording = read_recording(path, sfreq=rate)
                predictions = bk.decode(recording, "seizure")
            except BrainkitError as err:  # not a recording (a hypnogram, a licence) or no signal
                print(f"{group:15s} {Path(path).name[:48]:48s} refused: {err}", flush=True)
                continue
            w = sliding_windows(preprocess(recording, bk.preprocess_config), 4.0)
            entropy = np.median(window_regularity(w.select(np.arange(min(len(w), 30))))[:, 0].numpy())
            n, total = int((predictions.predicted == "seizure").sum()), len(predictions.predicted)
            alarms, windows = alarms + n, windows + total
            print(f"{group:15s} {Path(path).name[:48]:48s} {n:4d} / {total:4d} seizure, "
                  f"entropy {entropy:.2f}", flush=True)
        if windows:
            print(f"{group}: {alarms} of {windows} windows answered seizure ({100 * alarms / windows:.1f} %)\n", flush=True)


if __name__ == "__main__":
    main()
