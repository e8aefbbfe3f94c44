"""Scalp regions, and the physiology the shipped model's attributions must recover."""

import numpy as np
import pytest

from brainkit.models.checkpoint import DEFAULT_CHECKPOINT
from brainkit.errors import BrainkitError
from brainkit.explain.regions import eyes_closed_regions, region_means, region_of
from test_explain import make_windows, tiny_brainkit


@pytest.mark.parametrize("name, region", [
    ("Fp1", "frontal"), ("AF7", "frontal"), ("Fz", "frontal"), ("EEG FP1-REF", "frontal"),
    ("FC5", "fronto-central"), ("C3", "central"), ("T7", "temporal"), ("CP1", "centro-parietal"),
    ("P3", "parietal"), ("PO7", "occipital"), ("O1", "occipital"), ("Oz.", "occipital"),
    ("Iz", "occipital"), ("EEG O2-A1", "occipital"), ("A1", None), ("ECG", None), ("Fpz-Cz", "frontal"),
])
def test_region_of_names(name, region):
    assert region_of(name) == region


def test_region_means_average_over_each_regions_channels():
    means = region_means(["Fp1", "Fp2", "O1", "Cz", "ECG"], [1.0, 3.0, 5.0, 7.0, 100.0])
    assert means == {"frontal": 2.0, "occipital": 5.0, "central": 7.0}


def test_eyes_open_baselines_attribute_what_differs_from_them():
    bk = tiny_brainkit()
    names = ("Fp1", "Fp2", "O1", "O2")
    closed, opened = make_windows(names, n=1, seconds=4.0), make_windows(names, n=1, seconds=4.0, seed=5)
    same = eyes_closed_regions(bk, [closed], baselines=[closed], n_steps=4)
    assert np.abs(same["channel_attribution"]).max() == 0  # the path has length zero
    other = eyes_closed_regions(bk, [closed], baselines=[opened, closed], n_steps=8)
    assert other["channel_attribution"].max() > 0 and "mean over 2" in other["baseline"]
    zeros = eyes_closed_regions(bk, [closed], n_steps=8)
    assert zeros["baseline"] == "zeros" and not np.allclose(zeros["channel_evidence"], other["channel_evidence"])
    with pytest.raises(BrainkitError, match="channels"):
        eyes_closed_regions(bk, [closed], baselines=[make_windows(n=1, seconds=4.0)])


@pytest.mark.slow
def test_shipped_model_finds_eyes_closed_evidence_over_occipital_channels(data_dir):
    """Integrated gradients of "closed" from eyes-open windows: more absolute mass occipital than frontal."""
    if not (DEFAULT_CHECKPOINT / "decoder" / "config.json").exists():
        pytest.skip("no decoder shipped in brainkit/assets/brainkit-base")
    from brainkit.data.reference import eegmmidb_eyes
    from brainkit.explain.regions import summarise
    from brainkit.inference import Brainkit

    windows = eegmmidb_eyes(data_dir, n_windows=4)
    opened = eegmmidb_eyes(data_dir, n_windows=2, label="open")
    assert all(set(w.labels) == {"closed"} for w in windows) and all(set(w.labels) == {"open"} for w in opened)
    result = eyes_closed_regions(Brainkit(), windows, opened, n_steps=16)
    summary = summarise(result)
    assert np.isfinite(result["channel_attribution"]).all()
    # the model answers "closed" on these eyes-closed windows, and each holds more evidence for it
    # than open EEG of the same person (completeness: the attributions add up to the change of
    # log p(closed) from the eyes-open windows)
    assert summary["mean_p_closed"] > 0.5 and (result["channel_evidence"].sum(1) > 0).all(), summary
    # where the attribution's absolute mass lies: occipital channels carry more of it than frontal
    # ones (eyes blink and move in front, alpha sits at the back; a physiology-blind model would
    # split them evenly). What does NOT hold with the read-out decoder, and is said in the model
    # card rather than tested: the *signed* evidence through the language model is largest over
    # temporal channels, not occipital ones (the read-out head alone puts it occipital first).
    assert summary["occipital_over_frontal"] > 1.0, summary


def test_a_task_read_from_some_regions_names_the_leads_that_decide_it(caplog):
    """Sleep reads the central region: a polysomnogram's central leads are named as the ones that
    decide it (Decode page, log), a recording without one is said to be read from every lead, a
    task on every region gets no note; decoding logs the note."""
    import mne

    from brainkit.io import recording_from_raw
    from brainkit.models.readout import region_channels
    from brainkit.sensors import eeg_position

    positions = np.array([eeg_position(n)[0] for n in ("FP1-A1", "C3-A1", "O1-A1", "Cz")])
    assert region_channels(positions, np.ones(4, bool), ["central"]).tolist() == [False, True, False, True]
    assert region_channels(positions, np.array([True, False, True, False]), ["central"]).tolist() == [False] * 4

    def recording(names):
        info = mne.create_info(list(names), 100.0, "eeg")
        x = np.random.default_rng(0).normal(scale=2e-5, size=(len(names), 100 * 60))
        return recording_from_raw(mne.io.RawArray(x, info, verbose="error"), "night")

    from brainkit.preprocess import DEFAULT

    bk = tiny_brainkit()
    bk.decoder.config.readout_regions = {"sleep_stage": ["central"]}
    bk.preprocess_config = DEFAULT
    psg = recording(["FP1-A1", "C3-A1", "O1-A1", "EOG1"])
    assert bk.channels_read(psg, "sleep_stage") == ["C3-A1"]
    assert bk.reading_note(psg, "sleep_stage").startswith("Decided from C3-A1 only: its central leads")
    no_central = recording(["Fpz-Cz", "Pz-Oz"])
    assert bk.channels_read(no_central, "sleep_stage") == []
    assert bk.reading_note(no_central, "sleep_stage").startswith("No central lead here")
    assert bk.channels_read(psg, "eyes") is None and bk.reading_note(psg, "eyes") == ""
    with caplog.at_level("INFO", logger="brainkit"):
        bk.decode(psg, "sleep_stage")
    assert "sleep_stage: Decided from C3-A1 only" in caplog.text
