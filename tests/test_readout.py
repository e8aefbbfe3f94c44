"""The read-out features: invariances by construction, regions from positions, the closed-form fit."""

import numpy as np
import pytest
import torch

from brainkit.models import readout as r
from brainkit.sensors import template_position

TEN_TWENTY = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3",
              "Pz", "P4", "P8", "O1", "O2")


def _cap(names=TEN_TWENTY):
    return np.stack([template_position(n) for n in names]), np.ones(len(names), bool)


def _alpha_windows(rng, n, amplitude, channels, n_times=1024, sfreq=256.0):
    """Pink-ish noise plus a 10-Hz rhythm of ``amplitude`` on ``channels``, (n, 19, T)."""
    t = np.arange(n_times) / sfreq
    x = np.cumsum(rng.standard_normal((n, 19, n_times)), -1) * 0.05 + rng.standard_normal((n, 19, n_times))
    x[:, channels] += amplitude * np.sin(2 * np.pi * 10 * t + rng.uniform(0, 6, (n, len(channels), 1)))
    return torch.from_numpy(x.astype(np.float32))


def test_regions_are_where_a_clinician_puts_them():
    assert r.regions_of(template_position("O1"))[:2] == ["occipital", "posterior"]
    assert "left" in r.regions_of(template_position("O1"))
    assert r.regions_of(template_position("Fp2"))[0] == "frontal" and "right" in r.regions_of(template_position("Fp2"))
    assert r.regions_of(template_position("T7"))[0] == "temporal"
    assert r.regions_of(template_position("Cz")) == ["central"]
    assert r.regions_of(template_position("P3"))[0] == "parietal"


def test_region_weights_fall_back_to_the_whole_head():
    pos, has = _cap(("Fp1", "Fp2"))
    w = r.region_weights(pos, has)
    assert w.shape == (len(r.REGIONS), 2) and np.allclose(w.sum(1), 1)
    occipital = r.REGIONS.index("occipital")
    assert np.allclose(w[occipital], w[0])  # no occipital sensor: reads the whole head
    assert np.allclose(r.region_weights(np.zeros((3, 3)), np.zeros(3, bool)), 1 / 3)  # no positions
    assert r.empty_regions(pos, has) == ["central", "temporal", "parietal", "occipital", "posterior"]
    assert r.empty_regions(np.zeros((1, 3)), np.zeros(1, bool)) == list(r.REGIONS[1:])  # one unplaced channel


@pytest.mark.parametrize("gain", [0.25, 4.0, 1e3])
def test_gain_changes_nothing(gain):
    rng = np.random.default_rng(0)
    pos, has = _cap()
    x = _alpha_windows(rng, 4, 2.0, [17, 18])
    scale = rng.uniform(5e-6, 2e-5, 19)
    a = r.readout_features(x, 256.0, pos, has, scale)
    b = r.readout_features(x, 256.0, pos, has, scale * gain)
    assert torch.allclose(a, b, atol=1e-4)


def test_reference_changes_nothing():
    """Re-referencing (adding one signal to every channel) is undone by the common average."""
    rng = np.random.default_rng(1)
    pos, has = _cap()
    x = _alpha_windows(rng, 3, 2.0, [17, 18])
    scale = np.full(19, 1e-5)
    shifted = x + 3.0 * torch.randn(3, 1, x.shape[-1])  # another reference electrode's signal
    a = r.readout_features(x, 256.0, pos, has, scale)
    b = r.readout_features(shifted, 256.0, pos, has, scale)
    assert torch.allclose(a, b, atol=1e-3)


def test_average_reference_changes_nothing_even_after_scaling_again():
    """The shift test's average reference: volts re-referenced, then robust-scaled again, so every
    channel's scale changes. Nothing in the read-out may follow (``recording_power``, in units of
    the recorded reference's scale, used to)."""
    from brainkit.evaluation.shifts import average_reference
    from brainkit.preprocess import Windows
    from brainkit.sensors import SensorArray

    rng = np.random.default_rng(2)
    x = _alpha_windows(rng, 6, 2.0, [17, 18]).numpy()
    x += 4.0 * rng.standard_normal((6, 1, x.shape[-1])).astype(np.float32)  # a noisy reference
    pos, has = _cap()
    sensors = SensorArray(list(TEN_TWENTY), ["eeg"] * 19, pos, np.zeros((19, 3)), has)
    w = Windows(x, 256.0, np.arange(6) * 4.0, sensors, rng.uniform(5e-6, 2e-5, 19))
    shifted = average_reference(w)
    assert not np.allclose(shifted.scale, w.scale, rtol=0.05)  # the scales did change
    a = r.readout_features(torch.from_numpy(w.x), 256.0, pos, has, w.scale)
    b = r.readout_features(torch.from_numpy(shifted.x), 256.0, pos, has, shifted.scale)
    assert torch.allclose(a, b, atol=2e-3)


def _sample_entropy_by_definition(row, m=2, r=0.2):
    """Richman and Moorman's definition, pair by pair (counts plus one, as the read-out's)."""
    tol, n = r * row.std(), len(row) - m
    def matches(length):
        return sum(max(abs(row[i + k] - row[j + k]) for k in range(length)) <= tol
                   for i in range(n) for j in range(i + 1, n))
    return -np.log((matches(m + 1) + 1) / (matches(m) + 1))


def test_sample_entropy_is_the_definition_at_128_hz():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 96))  # at 256 Hz: 48 samples at 128 Hz
    x[1, 0] = np.sin(np.arange(96) * 2 * np.pi * 9 / 256) + 0.05 * x[1, 0]
    got = r.sample_entropy(torch.from_numpy(x), 256.0).numpy()
    halved = x.reshape(2, 3, 48, 2).mean(-1)
    expected = np.array([[_sample_entropy_by_definition(row) for row in w] for w in halved])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got[1, 0] < 1.0 < got[0].min()  # a rhythm is predictable, noise is not


def test_sample_entropy_reads_regularity_free_of_gain():
    rng = np.random.default_rng(6)
    t = np.arange(1024) / 256.0
    noise = rng.standard_normal((1, 4, 1024))
    rhythm = np.sin(2 * np.pi * 3 * t) + 0.1 * noise  # a 3-Hz discharge
    x = torch.from_numpy(np.concatenate([noise, rhythm]))
    h = r.sample_entropy(x, 256.0)
    assert 1.9 < float(h[0].min()) and float(h[0].max()) < 2.5  # white noise: about 2.2
    assert float(h[1].max()) < 1.0
    for gain in (0.25, 4.0):  # exact in binary floating point
        assert torch.equal(r.sample_entropy(x * gain, 256.0), h)
    # every channel of a region: one 4-channel window of noise reads the same in every region
    pos, has = _cap(("O1", "O2", "Fp1", "Fp2"))
    pooled = r.regularity_features(x, 256.0, pos, has, np.full(4, 1e-5))
    assert pooled.shape == (2, len(r.REGIONS))
    assert float(pooled[1, r.REGIONS.index("occipital")]) == pytest.approx(float(h[1, :2].mean()))
    # a disconnected lead (zeros) is left out of its regions, not read as perfectly regular
    dead = x.clone()
    dead[:, 0] = 0.0  # O1
    pooled_dead = r.regularity_features(dead, 256.0, pos, has, np.full(4, 1e-5))
    occipital = r.REGIONS.index("occipital")
    assert float(pooled_dead[0, occipital]) == pytest.approx(float(r.sample_entropy(dead, 256.0)[0, 1]))
    assert float(pooled_dead[0, occipital]) > 1.9  # O2's noise alone, not halved by a zero
    silent = r.regularity_features(torch.zeros(1, 4, 1024, dtype=torch.float64), 256.0, pos, has, np.full(4, 1e-5))
    assert torch.equal(silent, torch.zeros(1, len(r.REGIONS), dtype=torch.float64))


def test_a_disconnected_lead_is_left_out_of_its_windows():
    """A lead of zeros reads as if the recording lacked it (it would dilute the regions' relative
    powers and join the common average), in the windows where it is dead and only there."""
    rng = np.random.default_rng(7)
    pos, has = _cap()
    x = _alpha_windows(rng, 3, 2.0, [17, 18]).double()
    scale = rng.uniform(5e-6, 2e-5, 19)
    keep = [c for c in range(19) if c != TEN_TWENTY.index("Fz")]
    without = r.readout_features(x[:, keep], 256.0, pos[keep], has[keep], scale[keep])
    dead = x.clone()
    dead[:, TEN_TWENTY.index("Fz")] = 0.0
    torch.testing.assert_close(r.readout_features(dead, 256.0, pos, has, scale), without)
    mixed = x.clone()
    mixed[1, TEN_TWENTY.index("Fz")] = 0.0
    got, whole = r.readout_features(mixed, 256.0, pos, has, scale), r.readout_features(x, 256.0, pos, has, scale)
    torch.testing.assert_close(got[[0, 2]], whole[[0, 2]])
    torch.testing.assert_close(got[1], without[1])
    assert (whole[1] - without[1]).abs().max() > 0.01  # leaving it out is not nothing


def test_waveform_shape_known_answers():
    """Kurtosis 1.5 and peak-to-RMS sqrt(2) for a sine, about 3 and above 3 for Gaussian noise;
    a spike train has a far larger kurtosis; none of it moves with the gain."""
    t = torch.arange(4096, dtype=torch.float64) / 256.0
    sine = torch.sin(2 * np.pi * 8 * t)[None, None]
    k, skew, peak, _ = r.waveform_shape(sine)[0, 0]
    assert abs(float(k) - np.log(1.5)) < 0.01 and float(skew) < 0.01 and abs(float(peak) - np.log(2) / 2) < 0.01
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 1, 4096)))
    k_noise = float(r.waveform_shape(noise)[0, 0, 0])
    assert abs(k_noise - np.log(3.0)) < 0.15
    spikes = noise * 0.1
    spikes[..., ::256] += 5.0
    assert float(r.waveform_shape(spikes)[0, 0, 0]) > k_noise + 1.0
    assert torch.allclose(r.waveform_shape(spikes * 1e-6), r.waveform_shape(spikes), atol=1e-6)


def test_posterior_alpha_reads_as_posterior_alpha():
    rng = np.random.default_rng(2)
    pos, has = _cap()
    names = list(r.REGIONS)
    alpha = r.FEATURE_NAMES.index("rel_alpha")
    f = r.readout_features(_alpha_windows(rng, 6, 3.0, [17, 18]), 256.0, pos, has, np.ones(19))
    f = f.view(6, len(names), -1)[..., alpha].mean(0)
    assert f[names.index("occipital")] > f[names.index("frontal")] + 1.0
    assert f[names.index("occipital")] > f[names.index("whole")]


def test_any_layout_gives_the_same_vector_size():
    rng = np.random.default_rng(3)
    for names in (("Cz",), ("AF7", "AF8", "TP9", "TP10"), TEN_TWENTY):
        pos, has = _cap(names)
        x = torch.from_numpy(rng.standard_normal((2, len(names), 512)).astype(np.float32))
        f = r.readout_features(x, 256.0, pos, has, np.ones(len(names)))
        assert f.shape == (2, r.N_FEATURES) and torch.isfinite(f).all()


def test_sequence_features_normalise_over_the_recording_in_any_order():
    rng = np.random.default_rng(4)
    f = torch.from_numpy(rng.standard_normal((20, 5)).astype(np.float32)) * 3 + 7
    starts = np.arange(20) * 30.0
    out = r.sequence_features(f, starts)
    assert out.shape == (20, 15)
    assert torch.allclose(out[:, :5].mean(0), torch.zeros(5), atol=1e-5)  # z-scored
    perm = rng.permutation(20)
    assert torch.allclose(r.sequence_features(f[perm], starts[perm]), out[perm], atol=1e-6)
    # the +-2 context of epoch 10 is the mean of the z-scores of epochs 8..12
    assert torch.allclose(out[10, 5:10], out[8:13, :5].mean(0), atol=1e-5)
    assert torch.allclose(out[10, 10:15], out[3:18, :5].mean(0), atol=1e-5)  # +-7


def test_fit_head_matches_the_logistic_regression_it_folds():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((200, 6)) * [1, 10, 0.1, 1, 1, 1] + 5
    y = (x[:, 0] + 0.1 * x[:, 1] > 5.5).astype(int)
    weight, bias = r.fit_head(x, y, 2)
    accuracy = ((x @ weight.T + bias).argmax(1) == y).mean()
    assert accuracy > 0.95  # separable by construction; an unfitted head sits near 0.5
    weight3, bias3 = r.fit_head(x, y, 3)  # an answer never seen in training is never chosen
    assert ((x @ weight3.T + bias3).argmax(1) != 2).all()


def test_refitting_one_task_keeps_the_other_heads():
    """``fit-readout --task eyes --entropy-task eyes``: eyes' head is rebuilt wider (its regions'
    sample entropy), n170's is kept as it was; giving a task entropy without refitting it is refused."""
    from brainkit.errors import BrainkitError
    from brainkit.models.decoder import BrainDecoder, BrainDecoderConfig
    from brainkit.training.readout import with_readout

    torch.manual_seed(0)
    config = BrainDecoderConfig(lm_hidden=16, latent_dim=8, n_sources=2, d_model=16, n_soft_tokens=2,
                                pool_size=2, n_layers=1, n_query_layers=1, readout_tasks=("n170", "eyes"))
    decoder = BrainDecoder(config).eval()
    new = with_readout(decoder, ["eyes"], entropy_tasks=["eyes"])
    assert new.config.entropy_tasks == ["eyes"] and new.config.readout_tasks == ["eyes", "n170"]
    assert new.readout_heads["eyes"].in_features == r.N_FEATURES + len(r.REGIONS)
    assert torch.equal(new.readout_heads["n170"].weight, decoder.readout_heads["n170"].weight)
    assert torch.equal(new.answer_prototypes["eyes"], decoder.answer_prototypes["eyes"])
    with pytest.raises(BrainkitError, match="refit it too"):
        with_readout(decoder, ["n170"], entropy_tasks=["eyes"])


def test_a_head_restricted_to_a_feature_set_reads_only_it(monkeypatch):
    """``fit-readout --task eyes --features eyes=spectral``: eyes' head is fitted on the spectral
    features of every region (the logistic regression of those columns alone) and holds zero
    weight on the others; "all" lifts the restriction; a task not refitted is refused."""
    from brainkit.errors import BrainkitError
    from brainkit.models.decoder import BrainDecoder, BrainDecoderConfig
    from brainkit.training import readout as tr

    config = BrainDecoderConfig(lm_hidden=16, latent_dim=8, n_sources=2, d_model=16, n_soft_tokens=2,
                                pool_size=2, n_layers=1, n_query_layers=1,
                                readout_tasks=("eyes", "sleep_stage"))
    decoder = BrainDecoder(config).eval()
    new = tr.with_readout(decoder, ["eyes", "sleep_stage"], feature_sets={"eyes": "spectral", "sleep_stage": "spectral"})
    assert new.config.readout_features == {"eyes": "spectral", "sleep_stage": "spectral"}
    spectral = [i for i, (_, f) in enumerate((rg, f) for rg in r.REGIONS for f in r.FEATURE_NAMES)
                if f in r.FEATURE_SETS["spectral"]]
    assert len(spectral) == len(r.REGIONS) * 15
    np.testing.assert_array_equal(tr.head_columns(new, "eyes", r.N_FEATURES), spectral)
    # a sequence task: the same features in each of its contexts (own, night z-scores, neighbours)
    width = new.readout_heads["sleep_stage"].in_features
    assert width == r.N_FEATURES * r.SEQUENCE_FACTOR
    assert len(tr.head_columns(new, "sleep_stage", width)) == len(spectral) * r.SEQUENCE_FACTOR
    assert tr.head_columns(decoder, "eyes", r.N_FEATURES).tolist() == list(range(r.N_FEATURES))

    rng = np.random.default_rng(9)
    x = rng.standard_normal((120, r.N_FEATURES))
    y = (x[:, spectral[3]] + x[:, 20] > 0).astype(int)  # column 20 is not spectral
    monkeypatch.setattr(tr, "task_features", lambda decoder, sets, task: x)
    monkeypatch.setattr(tr, "labels_of", lambda sets, task: y)
    weight, bias, _, _ = tr.fitted_head(new, None, "eyes")
    outside = np.setdiff1d(np.arange(r.N_FEATURES), spectral)
    assert not weight[:, outside].any() and weight[:, spectral].any()
    alone, alone_bias = r.fit_head(x[:, spectral], y, 2)
    np.testing.assert_allclose(weight[:, spectral], alone)
    np.testing.assert_allclose(bias, alone_bias)
    assert tr.fitted_head(decoder, None, "eyes")[0][:, 20].any()  # unrestricted: reads column 20

    assert tr.with_readout(new, ["eyes"], feature_sets={"eyes": "all"}).config.readout_features == {
        "sleep_stage": "spectral"}
    with pytest.raises(BrainkitError, match="refit it too"):
        tr.with_readout(decoder, ["sleep_stage"], feature_sets={"eyes": "spectral"})


def test_a_head_restricted_to_regions_reads_only_them(monkeypatch):
    """``fit-readout --regions sleep_stage=central``: the head holds zero weight outside the
    central region's columns (in every context of a sequence task); on a one-channel recording,
    whose regions all read that channel, it is the same function as the head on every region (its
    inverse regularisation scaled by the regions it leaves out); "all" lifts it; an unknown region
    and a task not refitted are refused."""
    from brainkit.errors import BrainkitError
    from brainkit.models.decoder import BrainDecoder, BrainDecoderConfig
    from brainkit.training import readout as tr

    config = BrainDecoderConfig(lm_hidden=16, latent_dim=8, n_sources=2, d_model=16, n_soft_tokens=2,
                                pool_size=2, n_layers=1, n_query_layers=1, readout_tasks=("sleep_stage",))
    decoder = BrainDecoder(config).eval()
    new = tr.with_readout(decoder, ["sleep_stage"], regions={"sleep_stage": ["central"]})
    assert new.config.readout_regions == {"sleep_stage": ["central"]}
    width = new.readout_heads["sleep_stage"].in_features
    columns = tr.head_columns(new, "sleep_stage", width)
    n = len(r.FEATURE_NAMES)
    central = r.REGIONS.index("central") * n
    expected = [k * r.N_FEATURES + central + i for k in range(r.SEQUENCE_FACTOR) for i in range(n)]
    assert sorted(columns.tolist()) == expected
    assert tr.regularisation(new, "sleep_stage") == pytest.approx(
        r.REGULARISATION["sleep_stage"] * len(r.REGIONS))

    # one channel: every region's features are the same numbers
    rng = np.random.default_rng(4)
    one = rng.standard_normal((200, r.SEQUENCE_FACTOR, 1, n))
    x = np.broadcast_to(one, (200, r.SEQUENCE_FACTOR, len(r.REGIONS), n)).reshape(200, width)
    y = np.argmax(one[:, 0, 0, :5] + 0.5 * rng.standard_normal((200, 5)), 1)
    monkeypatch.setattr(tr, "task_features", lambda decoder, sets, task: x)
    monkeypatch.setattr(tr, "labels_of", lambda sets, task: y)
    weight, bias, _, _ = tr.fitted_head(new, None, "sleep_stage")
    assert not np.delete(weight, columns, axis=1).any() and weight[:, columns].any()
    every, every_bias = tr.fitted_head(decoder, None, "sleep_stage")[:2]
    assert np.delete(every, columns, axis=1).any()  # unrestricted: every region
    np.testing.assert_allclose(r.softmax_logits(x @ weight.T + bias), r.softmax_logits(x @ every.T + every_bias),
                               atol=5e-3)  # the solver stops at its tolerance

    assert tr.with_readout(new, ["sleep_stage"], regions={"sleep_stage": ["all"]}).config.readout_regions == {}
    with pytest.raises(BrainkitError, match="expected some of whole, frontal"):
        tr.with_readout(decoder, ["sleep_stage"], regions={"sleep_stage": ["centre"]})
    with pytest.raises(BrainkitError, match="refit it too"):
        tr.with_readout(decoder, ["eyes"], regions={"sleep_stage": ["central"]})
