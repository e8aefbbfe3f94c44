"""Decoder training end to end on tiny models and synthetic labelled windows."""

from types import SimpleNamespace

import mne
import numpy as np
import pytest
import torch

from brainkit.training import decoder as td
from brainkit.models.decoder import BrainDecoder
from brainkit.models.llm import tiny_language_model
from brainkit.preprocess import Windows
from brainkit.sensors import sensors_from_info
from brainkit.models.tokenizer import BrainTokenizer, BrainTokenizerConfig


def _sets(n=24, seed=0):
    """Eyes windows: 'closed' carries 10 Hz alpha, 'open' does not (2 subjects)."""
    rng = np.random.default_rng(seed)
    sensors, _ = sensors_from_info(mne.create_info(["O1", "O2", "Fz"], 256.0, "eeg"))
    t = np.arange(512) / 256
    out = []
    for subject in ("s1", "s2"):
        labels = np.array(["open", "closed"] * (n // 2))
        x = rng.normal(0, 1, (n, 3, 512)).astype(np.float32)
        x[labels == "closed", :2] += 3 * np.sin(2 * np.pi * 10 * t).astype(np.float32)
        w = Windows(x, 256.0, np.arange(n) * 2.0, sensors, np.full(3, 1e-5), labels)
        out.append(SimpleNamespace(task="eyes", windows=w, subject=subject))
    return out


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    tok_model = BrainTokenizer(BrainTokenizerConfig(d_model=16, n_sources=4, codebook_size=32,
                                                    n_levels=2)).eval()
    lm, lm_tok = tiny_language_model()
    return tok_model, lm, lm_tok


def test_train_resume_and_calibrate(parts, tmp_path):
    tok_model, lm, lm_tok = parts
    train_fs = td.encode_sets(tok_model, _sets(), [[8, 13], [13, 30]])
    val_fs = td.encode_sets(tok_model, _sets(seed=1), [[8, 13], [13, 30]])
    assert len(train_fs) == 1 and train_fs[0].codes.shape[:2] == (48, 4)
    from brainkit.models.decoder import BrainDecoderConfig

    cfg = BrainDecoderConfig(lm_hidden=lm.config.hidden_size, latent_dim=16, n_sources=4, d_model=32,
                             n_soft_tokens=2, pool_size=2, bands_hz=[[8, 13], [13, 30]])
    td.train(tok_model, lm, lm_tok, train_fs, val_fs, tmp_path, cfg, steps=6, batch_size=8,
                       lr=3e-3, log_every=3, eval_every=100, ckpt_every=3)
    assert (tmp_path / "checkpoint" / "model.safetensors").exists()
    state = torch.load(tmp_path / "checkpoint" / "train_state.pt", weights_only=True)
    assert state["step"] == 6
    resumed = td.train(tok_model, lm, lm_tok, train_fs, val_fs, tmp_path, cfg, steps=8, batch_size=8,
                       lr=3e-3, log_every=3, eval_every=100, ckpt_every=3)
    assert torch.load(tmp_path / "checkpoint" / "train_state.pt", weights_only=True)["step"] == 8
    assert isinstance(resumed, BrainDecoder)
    results = td.calibrate(resumed, tok_model, val_fs)
    assert set(results) == {"eyes"}
    t = results["eyes"]["temperature"]
    assert resumed.config.temperatures["eyes"] == t
    # the stored temperature minimises the validation NLL (neither side of it does better)
    nll = _nll(results["eyes"]["logp"], results["eyes"]["labels"])
    assert nll(t) <= min(nll(t * 1.1), nll(t / 1.1), nll(1.0)) + 1e-9
    m = results["eyes"]["metrics"]
    assert m["n"] == 48
    # learned: 'closed' windows (alpha) ranked above 'open' ones through the language model,
    # and the auxiliary head separates them; the same decoder untrained does neither
    assert m["auroc"] >= 0.95
    aux = td.score(resumed, tok_model, val_fs, use_lm=False)["eyes"]["metrics"]
    assert aux["balanced_accuracy"] >= 0.9
    torch.manual_seed(0)
    untrained = BrainDecoder(cfg)
    untrained.attach_lm(lm, lm_tok)
    before = td.score(untrained, tok_model, val_fs)["eyes"]["metrics"]
    before_aux = td.score(untrained, tok_model, val_fs, use_lm=False)["eyes"]["metrics"]
    assert before["auroc"] < 0.95 and before_aux["balanced_accuracy"] < 0.9


def _nll(logp, labels):
    """Negative log-likelihood of ``labels`` under softmax(logp / t), as a function of t."""
    logp, labels = torch.from_numpy(logp).double(), torch.from_numpy(labels).long()
    return lambda t: float(torch.nn.functional.cross_entropy(logp / t, labels))


@pytest.mark.parametrize("scale", [0.05, 0.1, 0.3, 3.0, 30.0])
def test_fit_temperature_recovers_a_known_scale(scale):
    """Labels drawn from softmax(z), logits given as scale * z: the fitted temperature is scale
    (2000 draws: within 15%), small and large alike."""
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, (2000, 3))
    labels = np.array([rng.choice(3, p=np.exp(l) / np.exp(l).sum()) for l in true_logits])
    assert td.fit_temperature(true_logits * scale, labels) == pytest.approx(scale, rel=0.15)


def test_spectral_heads_start_at_the_logistic_regression(parts):
    """Alpha in 'closed' windows: the closed-form start separates the training windows."""
    tok_model, lm, lm_tok = parts
    sets = td.encode_sets(tok_model, _sets(), td.BrainDecoderConfig().bands_hz)
    decoder = BrainDecoder(td.BrainDecoderConfig(lm_hidden=lm.config.hidden_size, latent_dim=16,
                                                 n_sources=4, d_model=32, n_heads=2, n_layers=1,
                                                 n_query_layers=1, n_soft_tokens=2, pool_size=2))
    fitted = td.init_spectral_heads(decoder, sets)
    assert set(fitted) == {"eyes"} and fitted["eyes"] > 0.9
    stats = torch.from_numpy(np.concatenate([td.spectral_statistics(fs) for fs in sets])).float()
    labels = np.concatenate([fs.labels for fs in sets])
    with torch.no_grad():
        pred = decoder.spectral_heads["eyes"](stats).argmax(1).numpy()
    assert (pred == labels).mean() == pytest.approx(fitted["eyes"], abs=0.03)
