"""Eyes open or closed on recordings of the corpus whose state is known and that the eyes task
never trained on: other labs, devices and people.

    python scripts/eyes_external.py [--data ../shared/data] [--checkpoint DIR] [--per-group 4]

Decodes ``eyes`` (the whole model: the language model's answer) over every 4-s window of: the
LEMON resting recording (another lab, 61 channels, eyes closed throughout: its ``S210`` markers),
YASA's resting eyes-open snippet (another lab, 6 channels), the Muse headset's visual tasks (P300,
N170: eyes open on a screen, 4 channels, other people) and the EEGLAB sample (a visual task,
32 channels), at most ``--per-group`` recordings of each. Prints, per recording, the windows
answered "closed" and the median over its windows of the read-out's posterior relative alpha
power (8-13 Hz over 1-45 Hz, posterior region), then per group the share answered right, and the
balanced accuracy over the two states (the mean of the groups' per-state shares); last, the same
alpha of EEGMMIDB S001's eyes-open and eyes-closed runs (eyes training), for comparison.
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

#: group -> (files under the data folder, the state its windows are in)
GROUPS = {
    "LEMON, 61 channels, eyes closed": ("formats/tuab_lemon/lemon_*/*.vhdr", "closed"),
    "YASA snippet, 6 channels, eyes open": ("yasa_snippets/data_resting_EO_*", "open"),
    "Muse visual tasks, 4 channels, eyes open": ("muse/visual/*/subject*/*/*.csv.gz", "open"),
    "EEGLAB sample, 32 channels, visual task": ("eeglab_sample/eeglab_data.set", "open"),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--per-group", type=int, default=4, help="recordings per group at most (in name order)")
    args = p.parse_args()

    import numpy as np

    from brainkit.errors import BrainkitError
    from brainkit.inference import Brainkit, window_readout
    from brainkit.io import read_recording
    from brainkit.models.readout import FEATURE_NAMES, REGIONS
    from brainkit.preprocess import preprocess, sliding_windows

    bk = Brainkit(args.checkpoint)
    column = REGIONS.index("posterior") * len(FEATURE_NAMES) + FEATURE_NAMES.index("rel_alpha")

    def posterior_alpha(recording) -> float:
        w = sliding_windows(preprocess(recording, bk.preprocess_config), 4.0)
        return float(np.median(np.exp(window_readout(w)[:, column].numpy())))  # the feature is a log

    right_by_state: dict[str, list[float]] = {"open": [], "closed": []}
    for group, (pattern, state) in GROUPS.items():
        right = windows = 0
        for path in sorted(glob.glob(str(Path(args.data) / pattern)))[:args.per_group]:
            try:
                recording = read_recording(path)
                predictions = bk.decode(recording, "eyes")
            except BrainkitError as err:
                print(f"{Path(path).name[:48]:48s} refused: {err}", flush=True)
                continue
            closed = int((predictions.predicted == "closed").sum())
            n = len(predictions.predicted)
            right += closed if state == "closed" else n - closed
            windows += n
            print(f"{Path(path).name[:48]:48s} {closed:4d} / {n:4d} closed, posterior relative alpha "
                  f"{posterior_alpha(recording):.2f}", flush=True)
        if windows:
            right_by_state[state].append(right / windows)
            print(f"{group}: {right} of {windows} windows right ({100 * right / windows:.1f} %)\n", flush=True)
    shares = [np.mean(v) for v in right_by_state.values() if v]
    print(f"balanced over the two states: {100 * np.mean(shares):.1f} %")
    for run, state in (("R01", "open"), ("R02", "closed")):
        recording = read_recording(Path(args.data) / "eegmmidb" / "S001" / f"S001{run}.edf")
        print(f"EEGMMIDB S001{run} (eyes {state}, in eyes training): posterior relative alpha "
              f"{posterior_alpha(recording):.2f}")


if __name__ == "__main__":
    main()
