"""The teaching simulator: scenes of sources (brainkit.data.simulate.scene) and their redraw
(brainkit.teaching).

Physics on known answers (a radial dipole is silent in MEG, the common average sums to zero,
the fields peak above the source), calibration against the sample recordings' levels (the
read-out's eyes-closed alpha range of brainkit/data/simulate/calibrate.py, SleepConfig's
microvolts), and the model's answers: moving an alpha source forward lowers p(closed), a larger
one raises it, with the read-out head alone (fast) and through the language model (slow).
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

from brainkit.data.simulate import EyesConfig, SleepConfig
from brainkit.data.simulate.scene import (MONTAGES, RHYTHMS, Scene, Source, _position_gain, channel_names,
                                          simulate_scene, source_field)
from brainkit.errors import BrainkitError
from brainkit.models import readout as ro
from brainkit.preprocess import preprocess, sliding_windows
from brainkit.teaching import (LESSONS, HeadModel, answer_rows, code_changes, mean_probabilities, readout_map,
                               recording_name, scene_codes, simulate, simulated_recording, task_answers)

torch.set_num_threads(1)
#: eyes rows of the calibration table (brainkit/data/simulate/calibrate.py): real p10, p90
REAL_POSTERIOR_ALPHA = {"closed": (-1.76, -0.27), "open": (-2.02, -1.04)}
REAL_POSTERIOR_SLOPE = (-2.23, -1.35)  # eyes open


def _feature(recording, region, name):
    windows = sliding_windows(preprocess(recording), 4.0)
    s = windows.sensors
    f = ro.readout_features(torch.from_numpy(windows.x), windows.sfreq, s.pos, s.has_position, windows.scale)
    return float(np.median(f[:, ro.REGIONS.index(region) * len(ro.FEATURE_NAMES) + ro.FEATURE_NAMES.index(name)]))


def _alpha(**kw):
    return Scene(sources=(Source("alpha", **kw),))


# ----------------------------------------------------------------------------------- physics
@pytest.mark.parametrize("montage", list(MONTAGES))
def test_every_montage_records_its_channels(montage):
    raw = simulate_scene(replace(_alpha(), montage=montage, duration_s=10.0))
    n = {"eeg19": 19, "eeg64": 64, "headset4": 4, "meg306": 306}[montage]
    assert raw.get_data().shape == (n, 2560) and raw.ch_names == channel_names(montage)
    assert np.isfinite(raw.get_data()).all() and raw.get_data().std() > 0


def test_field_peaks_above_the_source_and_sums_to_zero():
    names = channel_names("eeg19")
    back, front = source_field("eeg19", Source("alpha", "occipital")), source_field("eeg19", Source("alpha", "frontal"))
    assert abs(back.sum()) < 1e-6 * np.abs(back).max()  # common average reference
    assert names[int(np.argmax(back))] in ("O1", "O2") and names[int(np.argmax(front))] in ("Fz", "F3", "F4")


def test_a_radial_source_is_silent_in_meg_a_tangential_one_is_not():
    radial = source_field("meg306", Source("alpha", "parietal", orientation="radial"))
    tangential = source_field("meg306", Source("alpha", "parietal", orientation="tangential, front-back"))
    assert np.abs(radial).max() < 1e-4 * np.abs(tangential).max()


def test_the_forward_model_is_computed_once_per_montage_and_place():
    source_field("eeg64", Source("beta", "vertex"))
    before = _position_gain.cache_info()
    source_field("eeg64", Source("beta", "vertex", orientation="tangential, left-right"))
    after = _position_gain.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses


def test_background_line_noise_blinks_and_a_bad_channel():
    base = Scene(sources=(), duration_s=20.0)
    quiet = simulate_scene(base).get_data()
    noisy = simulate_scene(replace(base, line_noise=2.0, bad_channel="Cz", blinks_per_min=20.0)).get_data()
    names = channel_names("eeg19")
    spectrum = lambda x: np.abs(np.fft.rfft(x, axis=1)) ** 2  # noqa: E731
    f = np.fft.rfftfreq(quiet.shape[1], 1 / 256.0)
    at50 = np.argmin(np.abs(f - 50.0))
    assert (spectrum(noisy)[:, at50] > 100 * spectrum(quiet)[:, at50]).all()
    cz = names.index("Cz")
    bad = simulate_scene(replace(base, bad_channel="Cz")).get_data()
    assert 8 < bad[cz].std() / quiet[cz].std() < 12 and np.array_equal(np.delete(bad, cz, 0), np.delete(quiet, cz, 0))
    fp1, o1 = names.index("Fp1"), names.index("O1")
    blinks = simulate_scene(replace(base, blinks_per_min=20.0)).get_data() - quiet
    peak = blinks[fp1].max() / 1e-6  # uV: about EyesConfig.blink_uv (less the common average)
    assert 0.7 * EyesConfig().blink_uv < peak < 1.3 * EyesConfig().blink_uv and peak > 3 * np.abs(blinks[o1]).max() / 1e-6
    assert np.allclose(simulate_scene(replace(base, background=2.0)).get_data(), 2 * quiet)


def test_p300_tones_are_annotated_and_bad_input_is_refused():
    raw = simulate_scene(Scene(sources=(Source("P300", "parietal"),), duration_s=30.0))
    labels = list(raw.annotations.description)
    assert labels.count("target") >= 2 and labels.count("standard") > labels.count("target")
    with pytest.raises(BrainkitError, match="montage"):
        Scene(montage="eeg5")
    with pytest.raises(BrainkitError, match="rhythm"):
        Scene(sources=(Source("gamma"),))
    with pytest.raises(BrainkitError, match="not in the"):
        simulate_scene(Scene(montage="headset4", bad_channel="Cz"))


# ------------------------------------------------------------------------------- calibration
def test_alpha_and_background_are_calibrated_to_the_real_recordings():
    closed = simulated_recording(_alpha())
    opened = simulated_recording(_alpha(amplitude_nam=RHYTHMS["alpha"].default_nam * EyesConfig().alpha_open_ratio))
    lo, hi = REAL_POSTERIOR_ALPHA["closed"]
    assert lo <= _feature(closed, "posterior", "rel_alpha") <= hi
    lo, hi = REAL_POSTERIOR_ALPHA["open"]
    assert lo <= _feature(opened, "posterior", "rel_alpha") <= hi
    lo, hi = REAL_POSTERIOR_SLOPE
    assert lo <= _feature(simulated_recording(Scene(sources=())), "posterior", "aperiodic_slope") <= hi


def test_sleep_rhythms_have_the_sleep_simulations_microvolts():
    cfg = SleepConfig()
    spindles = simulate_scene(Scene(sources=(Source("sleep spindles", "vertex"),), duration_s=120.0), False)
    assert 0.7 < np.abs(spindles.get_data()).max() / 1e-6 / cfg.spindle_uv < 1.5
    slow = simulate_scene(Scene(sources=(Source("slow waves", "frontal"),), duration_s=60.0), False)
    n3_delta_frontal = dict(cfg.rhythms_uv)["N3"][4] * dict(cfg.region_weights)["F"][3]
    assert 0.7 < slow.get_data().std(1).max() / 1e-6 / n3_delta_frontal < 1.5


# ---------------------------------------------------------------------------------- teaching
@pytest.fixture(scope="module")
def head_model():
    return HeadModel()


def _p_closed(model, **kw):
    return mean_probabilities(task_answers(model, simulated_recording(_alpha(**kw)), ["eyes"]))["eyes"]["closed"]


def test_moving_alpha_forward_lowers_p_closed_and_amplitude_raises_it(head_model):
    """Measured with the eyes head that reads the spectrum's shape (not where alpha is strongest):
    occipital 0.99, frontal 0.77; 0.21, 0.34, 0.78, 0.95 at 20, 40, 80, 120 nA·m."""
    assert _p_closed(head_model, region="frontal") < _p_closed(head_model, region="occipital") - 0.1
    p = [_p_closed(head_model, amplitude_nam=a) for a in (20.0, 40.0, 80.0, 120.0)]
    assert all(b > a for a, b in zip(p, p[1:])), p
    assert p[0] < 0.5 < p[-1]


def test_codes_change_where_the_scene_changes(head_model):
    codes, patch_s = scene_codes(head_model.tokenizer, simulated_recording(_alpha()))
    same, _ = scene_codes(head_model.tokenizer, simulated_recording(_alpha()))
    moved, _ = scene_codes(head_model.tokenizer, simulated_recording(_alpha(region="frontal")))
    assert patch_s == 0.25 and codes.ndim == 4
    assert code_changes(None, codes) is None and code_changes(codes[:, :1], codes) is None
    assert code_changes(codes, same).sum() == 0 and code_changes(codes, moved).sum() > 0
    assert code_changes(codes, moved).shape == codes.shape[1:3]


def test_the_attribution_map_adds_up_and_points_to_the_source(head_model):
    scene = _alpha()
    recording = simulated_recording(scene)
    a = readout_map(head_model, scene, recording, "eyes")
    assert a["answer"] == "closed"
    assert np.isclose(a["channel"].sum(), a["total"]) and np.isclose(a["total"], sum(c for *_, c in a["contributions"]))
    names = list(recording.sensors.names)
    assert names[int(np.argmax(a["channel"]))] in ("O1", "O2") and a["total"] > 0
    assert readout_map(head_model, scene, recording, "sleep_stage") is None  # read with its night


def test_simulate_draws_one_redraw_and_the_lessons_do_what_they_say(head_model):
    sim = simulate(head_model, LESSONS["Closing the eyes"].scene)
    assert sim.recording.name.startswith("SIMULATED: alpha at occipital") and sim.unit == "uV"
    assert recording_name(Scene(sources=())).startswith("SIMULATED: background only")
    assert sim.field.shape == (19,) and len(sim.predictions) == 9  # every task
    rows = {r["task"]: r for r in answer_rows(sim.predictions)}
    assert rows["eyes"]["answer"] == "closed" and rows["eyes"]["change"] is None
    night = task_answers(head_model, simulated_recording(LESSONS["A night from wake to deep sleep"].scene),
                         ["sleep_stage"])["sleep_stage"]
    assert len(night.predicted) == 10 and night.predicted[0] == "W" and night.predicted[-1] == "N3"
    depth = {"W": 0, "N1": 1, "N2": 2, "N3": 3}
    # deeper as the night goes on: at most one epoch steps back (the central-region read-out
    # answers W W N2 N2 N2 N2 N1 N2 N3 N3: one N1 among the N2s)
    assert (np.diff([depth[s] for s in night.predicted]) < 0).sum() <= 1, night.predicted
    assert np.mean([depth[s] for s in night.predicted[5:]]) > np.mean([depth[s] for s in night.predicted[:5]])
    meg = simulate(head_model, replace(_alpha(orientation="tangential, front-back"), montage="meg306"))
    assert meg.unit == "fT" and meg.field.shape == (102,)


@pytest.mark.slow
def test_the_language_models_answer_follows_the_alpha_source():
    """The page's path (Brainkit.predict, as Decode): forward lowers p(closed), amplitude raises it
    (measured: occipital 0.97, frontal 0.83; 0.19, 0.36, 0.84, 0.97 at 20, 40, 80, 120 nA·m)."""
    from brainkit.inference import Brainkit

    bk = Brainkit()
    assert _p_closed(bk, region="frontal") < _p_closed(bk, region="occipital") - 0.1
    p = [_p_closed(bk, amplitude_nam=a) for a in (20.0, 40.0, 80.0, 120.0)]
    assert all(b > a for a, b in zip(p, p[1:])), p
