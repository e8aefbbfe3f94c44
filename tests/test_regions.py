"""Scalp regions, and the physiology the shipped model's attributions must recover."""

import numpy as np
import pytest

from brainkit.checkpoint import DEFAULT_CHECKPOINT
from brainkit.regions import region_means, region_of


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


@pytest.mark.slow
def test_shipped_model_finds_eyes_closed_evidence_over_occipital_channels(data_dir):
    """Integrated gradients of "closed" on EEGMMIDB eyes-closed windows: occipital above frontal."""
    if not (DEFAULT_CHECKPOINT / "decoder" / "config.json").exists():
        pytest.skip("no decoder shipped in brainkit/assets/brainkit-base")
    from brainkit.pipeline import Brainkit
    from brainkit.regions import eegmmidb_eyes_closed, eyes_closed_regions, summarise

    windows = eegmmidb_eyes_closed(data_dir, n_windows=4)
    result = eyes_closed_regions(Brainkit(), windows, n_steps=16)
    summary = summarise(result)
    assert np.isfinite(result["channel_attribution"]).all()
    # evidence for "closed" (signed attributions toward it), per channel of each region
    assert summary["passes"] and summary["occipital_evidence"] > summary["frontal_evidence"], summary
