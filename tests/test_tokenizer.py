"""BrainTokenizer and its training loop: shapes, invariances, codebook rules, save/load, training."""

import logging
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from brainkit.errors import BrainkitError
from brainkit.sensors import SensorArray
from brainkit.models.quantizer import ResidualVQ, codebook_usage
from brainkit.models.reconstruction import reconstruction_losses, reconstruction_r
from brainkit.models.tokenizer import BrainTokenizer, BrainTokenizerConfig
from brainkit.training.tokenizer import evaluate, sample_batch, train

torch.set_num_threads(1)


def tiny_config(**kw):
    base = dict(d_model=32, n_heads=2, n_sources=4, n_levels=2, codebook_size=32, n_pos_freqs=3,
                dead_code_steps=5)
    return BrainTokenizerConfig(**{**base, **kw})


def tiny_model(seed=0, **kw):
    torch.manual_seed(seed)
    return BrainTokenizer(tiny_config(**kw)).eval()


def layout(rng, n_channels, kind="eeg"):
    """Random sensors on the upper half of a 9-cm sphere."""
    v = rng.normal(size=(n_channels, 3))
    v[:, 2] = np.abs(v[:, 2])
    pos = 0.09 * v / np.linalg.norm(v, axis=1, keepdims=True)
    ori = np.zeros((n_channels, 3)) if kind == "eeg" else pos / 0.09
    return SensorArray([f"{kind}{i}" for i in range(n_channels)], [kind] * n_channels, pos, ori,
                       np.ones(n_channels, bool))


@dataclass
class Item:
    x: np.ndarray
    sensors: SensorArray
    device: str


def synthetic_item(rng, n_channels, n_windows=16, n_times=512, device="dev", sfreq=256.0):
    """Three point sources, each a sum of two sinusoids (3-30 Hz), seen through a distance gain."""
    sensors = layout(rng, n_channels)
    src = rng.normal(size=(3, 3))
    src = 0.06 * src / np.linalg.norm(src, axis=1, keepdims=True)
    gain = 1.0 / (0.002 + ((sensors.pos[:, None] - src[None]) ** 2).sum(-1))  # (C, 3)
    gain /= gain.max(0, keepdims=True)
    t = np.arange(n_times) / sfreq
    f = rng.uniform(3, 30, size=(n_windows, 3, 2, 1))
    phi = rng.uniform(0, 2 * np.pi, size=(n_windows, 3, 2, 1))
    s = np.sin(2 * np.pi * f * t + phi).sum(2)  # (N, 3, T)
    x = np.einsum("cs,nst->nct", gain, s) + 0.1 * rng.normal(size=(n_windows, n_channels, n_times))
    x /= x.std(axis=(0, 2), keepdims=True)
    return Item(x.astype(np.float32), sensors, device)


def buffers(model):
    return {k: v.clone() for k, v in model.quantizer.state_dict().items()}


@pytest.mark.parametrize("n_channels", [1, 4, 19, 64, 306])
def test_shapes_any_channel_count(n_channels):
    model = tiny_model()
    rng = np.random.default_rng(n_channels)
    sensors = layout(rng, n_channels, "eeg" if n_channels < 100 else "grad")
    x = rng.normal(size=(2, n_channels, 300)).astype(np.float32)  # 300 is not a multiple of 64
    cfg = model.config
    with torch.no_grad():
        out = model(x, sensors)
        codes, latents = model.encode(x, sensors)
        rebuilt = model.decode(codes, sensors, n_times=300)
    P = 5  # ceil(300 / 64)
    assert out.reconstruction.shape == (2, n_channels, 300)
    assert codes.shape == out.codes.shape == (2, cfg.n_sources, P, cfg.n_levels)
    assert codes.dtype == torch.int64 and int(codes.max()) < cfg.codebook_size
    assert latents.shape == (2, cfg.n_sources, P, cfg.d_model)
    assert rebuilt.shape == (2, n_channels, 300)
    assert torch.allclose(rebuilt, out.reconstruction, atol=1e-5)
    assert model.decode(codes, sensors).shape == (2, n_channels, P * cfg.patch_size)
    assert all(torch.isfinite(v) for v in out.losses.values()) and torch.isfinite(out.loss)
    assert set(out.losses) == {"mse", "corr", "amp", "phase", "commit"}


def test_channel_permutation_permutes_reconstruction():
    model = tiny_model()
    rng = np.random.default_rng(1)
    sensors = layout(rng, 19)
    x = rng.normal(size=(3, 19, 256)).astype(np.float32)
    perm = rng.permutation(19)
    with torch.no_grad():
        a = model(x, sensors)
        b = model(x[:, perm], sensors.pick(perm))
    assert torch.equal(a.codes, b.codes)
    assert torch.allclose(a.reconstruction[:, perm], b.reconstruction, atol=1e-5)


def test_dropping_channels_still_decodes():
    model = tiny_model()
    rng = np.random.default_rng(2)
    sensors = layout(rng, 18)
    x = rng.normal(size=(2, 18, 256)).astype(np.float32)
    mask = np.ones((2, 18), bool)
    mask[0, rng.choice(18, 6, replace=False)] = False
    mask[1, rng.choice(18, 6, replace=False)] = False
    x_nan = x.copy()
    x_nan[~mask] = np.nan  # hidden channels may hold anything, even NaN
    with torch.no_grad():
        out = model(x_nan, sensors, channel_mask=mask)
        codes, _ = model.encode(x_nan, sensors, channel_mask=mask)
        keep = np.flatnonzero(mask[0])
        sub = model(x[:1, keep], sensors.pick(keep))
    assert out.reconstruction.shape == (2, 18, 256)
    assert torch.isfinite(out.reconstruction).all() and torch.isfinite(out.loss)
    assert torch.equal(codes, out.codes)
    # hiding channels with the mask is the same as leaving them out
    assert torch.equal(sub.codes, out.codes[:1])
    with pytest.raises(BrainkitError, match="at least one"):
        model.encode(x, sensors, channel_mask=np.zeros(18, bool))


def test_unknown_positions_and_per_window_sensors():
    model = tiny_model()
    rng = np.random.default_rng(3)
    sensors = layout(rng, 5)
    sensors.pos[2] = np.nan
    sensors.has_position[2] = False
    x = rng.normal(size=(2, 5, 256)).astype(np.float32)
    with torch.no_grad():
        out = model(x, sensors)
        pos = torch.as_tensor(np.nan_to_num(sensors.pos)).expand(2, 5, 3)  # (N, C, 3)
        bundle = (pos, torch.zeros(2, 5, 3), torch.zeros(2, 5, dtype=torch.long),
                  torch.as_tensor(sensors.has_position).expand(2, 5))
        out2 = model(x, bundle)
    assert torch.isfinite(out.reconstruction).all()
    assert torch.allclose(out.reconstruction, out2.reconstruction, atol=1e-6)
    bad = SensorArray(["EOG1"], ["eog"], np.zeros((1, 3)), np.zeros((1, 3)), np.ones(1, bool))
    with pytest.raises(BrainkitError, match="model_picks"):
        model.encode(x[:, :1], bad)


def test_save_load_round_trip_reproduces_codes(tmp_path):
    model = tiny_model().train()
    rng = np.random.default_rng(4)
    sensors = layout(rng, 8)
    x = rng.normal(size=(4, 8, 256)).astype(np.float32)
    for _ in range(3):  # data-initialise and move the codebooks
        model(x, sensors)
    model.eval()
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "model.safetensors"}
    loaded = BrainTokenizer.from_pretrained(tmp_path).eval()
    settings = [{k: v for k, v in m.config.to_dict().items() if k != "_name_or_path"} for m in (model, loaded)]
    assert settings[0] == settings[1]
    assert bool(loaded.quantizer.initialized)
    with torch.no_grad():
        assert torch.equal(model.encode(x, sensors)[0], loaded.encode(x, sensors)[0])
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_codebooks_change_only_in_training_mode():
    model = tiny_model()
    rng = np.random.default_rng(5)
    sensors = layout(rng, 6)
    x = rng.normal(size=(4, 6, 256)).astype(np.float32)
    before = buffers(model)
    with torch.no_grad():
        model(x, sensors)
    model.train()
    model.encode(x, sensors)  # encode never updates, even in training mode
    for key, value in buffers(model).items():
        assert torch.equal(value, before[key]), key
    model(x, sensors)
    after = buffers(model)
    assert not torch.equal(after["codebooks"], before["codebooks"])
    assert bool(after["initialized"])


def test_dead_code_is_restarted():
    cfg = tiny_config(dead_code_steps=5, codebook_size=16, n_levels=1, d_model=8)
    vq = ResidualVQ(cfg)
    torch.manual_seed(0)
    vq.initialized.fill_(True)
    vq.codebooks[0, 3] = 1e3  # far from every input: never chosen
    vq.sums[0, 3] = 1e3
    data = [torch.randn(64, 8) for _ in range(5)]
    for z in data[:4]:
        _, codes, _ = vq(z, update=True)
        assert not (codes == 3).any()
    assert torch.all(vq.codebooks[0, 3] > 900) and int(vq.unused_steps[0, 3]) == 4
    vq(data[4], update=True)  # fifth unused step: restart from one of these encoder outputs
    restarted = vq.codebooks[0, 3]
    assert restarted.abs().max() < 10
    assert torch.isclose(data[4], restarted).all(-1).any()
    assert int(vq.unused_steps[0, 3]) == 0
    _, codes, _ = vq(data[4], update=False)
    assert (codes == 3).any()


def test_codebook_usage_and_reconstruction_r_known_answers():
    codes = torch.tensor([[0, 1], [1, 1], [2, 1], [3, 1]])  # (M, L=2)
    usage = codebook_usage(codes, 8)
    assert usage["fraction_used"] == [0.5, 0.125]
    assert usage["perplexity"] == pytest.approx([4.0, 1.0])
    x = np.random.default_rng(0).normal(size=(2, 3, 100))
    assert reconstruction_r(x, x) == pytest.approx(1.0)
    assert reconstruction_r(x, -x) == pytest.approx(-1.0)
    assert reconstruction_r(x, 2 * x + 1) == pytest.approx(1.0)


def test_sample_batch_crops_and_drops_channels():
    rng = np.random.default_rng(6)
    corpus = [synthetic_item(rng, 10, n_windows=3, device="a"), synthetic_item(rng, 80, n_windows=3, device="b")]
    for seed in range(6):
        x, sensors, visible = sample_batch(corpus, np.random.default_rng(seed), 5, 128, max_channels=64)
        assert x.shape[0] == 5 and x.shape[2] == 128 and x.shape[1] in (10, 64)
        assert len(sensors) == x.shape[1] and visible.shape == x.shape[:2]
        assert visible.any(1).all() and visible.sum(1).min() >= x.shape[1] // 2


def test_sample_batch_cuts_small_montages_from_large_ones():
    rng = np.random.default_rng(7)
    small, big = [synthetic_item(rng, 3, n_windows=3)], [synthetic_item(rng, 40, n_windows=3)]
    sizes = set()
    for seed in range(40):
        x, sensors, visible = sample_batch(big, np.random.default_rng(seed), 4, 128, few_channels=1.0)
        assert len(sensors) == x.shape[1] and visible.shape == x.shape[:2] and visible.any(1).all()
        sizes.add(x.shape[1])
        assert sample_batch(small, np.random.default_rng(seed), 4, 128, few_channels=1.0)[0].shape[1] == 3
    assert max(sizes) <= 12 and len(sizes) > 3  # 1 to 12 channels of the 40
    assert sample_batch(big, np.random.default_rng(0), 4, 128, few_channels=0.0)[0].shape[1] == 40


def test_sources_are_spatial_filters_of_sensor_positions():
    """The gathering attention's weights depend on where the sensors are, not on the signal: with
    the same sensors, the sources' attention output is affine in the channel tokens."""
    model = tiny_model()
    attn, D = model.gather.attn, model.config.d_model
    g = torch.Generator().manual_seed(0)
    q, keys = torch.randn(1, 4, D, generator=g), torch.randn(1, 6, D, generator=g)
    a, b = torch.randn(1, 6, D, generator=g), torch.randn(1, 6, D, generator=g)
    with torch.no_grad():
        out = {k: attn(q, v, keys=keys)[0] for k, v in {"a": a, "b": b, "ab": a + b, "0": 0 * a}.items()}
        torch.testing.assert_close(out["ab"], out["a"] + out["b"] - out["0"], atol=1e-5, rtol=1e-4)
        assert not torch.allclose(attn(q, a, keys=keys)[0], attn(q, a, keys=keys.flip(1))[0])


def test_training_improves_reconstruction(tmp_path):
    rng = np.random.default_rng(7)
    corpus = [synthetic_item(rng, 12, device="cap12"), synthetic_item(rng, 6, device="cap6")]
    torch.manual_seed(0)
    cfg = tiny_config(d_model=48, n_heads=4, n_sources=8, codebook_size=64, n_pos_freqs=5,
                      dead_code_steps=50)
    before = evaluate(BrainTokenizer(cfg), corpus)
    model = train(corpus, tmp_path, cfg, steps=150, batch_size=8, lr=3e-3, seed=0, log_every=50,
                  ckpt_every=150, crop_s=1.0)
    after = evaluate(model, corpus)
    assert set(after["devices"]) == {"cap12", "cap6"}
    assert after["loss"] < before["loss"] - 1.0  # about 4.6 -> 2.5
    assert after["reconstruction_r"] > before["reconstruction_r"] + 0.25  # about 0.0 -> 0.4
    for device in after["devices"].values():
        assert 0 < device["codebook_usage"]["fraction_used"][0] <= 1
    assert (tmp_path / "model.safetensors").exists()


def test_resume_continues_from_checkpoint(tmp_path, caplog):
    rng = np.random.default_rng(8)
    corpus = [synthetic_item(rng, 4, n_windows=4, n_times=256)]
    cfg = tiny_config()
    kw = dict(batch_size=2, lr=1e-3, seed=0, log_every=1, ckpt_every=2, crop_s=1.0)
    train(corpus, tmp_path, cfg, steps=4, **kw)
    state = torch.load(tmp_path / "checkpoint" / "train_state.pt", weights_only=True)
    assert state["step"] == 4
    with caplog.at_level(logging.INFO, logger="brainkit"):
        train(corpus, tmp_path, cfg, steps=6, **kw)
    assert "at step 4" in caplog.text
    assert "step 5/6" in caplog.text and "step 1/6" not in caplog.text
    state = torch.load(tmp_path / "checkpoint" / "train_state.pt", weights_only=True)
    assert state["step"] == 6
    assert all(int(s["step"]) == 6 for s in state["optimizer"]["state"].values())


def test_loss_terms_known_answers():
    cfg = tiny_config()
    t = torch.arange(512) / 256.0
    x = torch.stack([torch.sin(2 * np.pi * 10 * t), torch.cos(2 * np.pi * 6 * t)])[None]  # (1, 2, 512)
    w = torch.ones(1, 2)
    same = reconstruction_losses(x, x, w, cfg)
    assert all(float(v) == pytest.approx(0.0, abs=1e-4) for v in same.values())
    flipped = reconstruction_losses(x, -x, w, cfg)
    assert float(flipped["corr"]) == pytest.approx(2.0, abs=1e-4)
    assert float(flipped["phase"]) == pytest.approx(2.0, abs=1e-3)
    assert float(flipped["amp"]) == pytest.approx(0.0, abs=1e-4)  # same spectrum, opposite phase
    noise = torch.randn(1, 2, 512, generator=torch.Generator().manual_seed(0))
    quiet = reconstruction_losses(noise, 0.5 * noise, w, cfg)  # half the amplitude in every bin
    assert float(quiet["amp"]) == pytest.approx(np.log(2), abs=0.01)
    assert float(quiet["phase"]) == pytest.approx(0.0, abs=1e-4)
    assert float(quiet["corr"]) == pytest.approx(0.0, abs=1e-4)
