"""Explanations on tiny seeded models: completeness, attention sums, sanity checks, task correlations."""

import json
import threading

import mne
import numpy as np
import pytest
import torch

from brainkit.models.decoder import BrainDecoder, BrainDecoderConfig
from brainkit.models.spectral import band_power_features
from brainkit.errors import BrainkitError
from brainkit.data.reference import reference_windows
from brainkit.explain.attention import connector_attention, lm_attention, to_sources
from brainkit.explain.attribution import (AnswerModel, TokenAnswerModel, completeness, explain_window,
                                          integrated_gradients, token_attributions)
from brainkit.explain.correlations import linear_cka, shared_choices, task_correlations
from brainkit.explain.integrated import (COMPLETENESS_FLOOR_NATS, COMPLETENESS_TOLERANCE, answer_change,
                                         complete_integrated_gradients)
from brainkit.explain.readout import (RecordingContext, feature_names, readout_contributions, readout_rows,
                                     reference_row)
from brainkit.explain.sanity import cascading_randomization, copy_decoder, sanity_checks
from brainkit.models.readout import FEATURE_NAMES, REGIONS, empty_regions
from brainkit.models.llm import tiny_language_model
from brainkit.inference import Brainkit, readout_inputs
from brainkit.preprocess import Windows
from brainkit.sensors import sensors_from_info
from brainkit.tasks import build_prompt, get_task
from brainkit.models.tokenizer import BrainTokenizer, BrainTokenizerConfig
from brainkit.viz.topomap import TOPO_LABELS, topography

torch.set_num_threads(1)

TASK = "n170"  # 1-s windows; both answers are two tokens long, so neither option wins by length
N_STEPS = 42  # six model evaluations per piece of the path
TOLERANCE = COMPLETENESS_TOLERANCE  # relative completeness error, 5 %
#: The tiny random model's answer hardly depends on its input: between two windows of white noise,
#: or from the zero signal, its log-probability moves by 1e-5 to 2e-3 nats, and the quadrature
#: and float32 rounding leave up to about 5e-5 nats unaccounted (seeds 0-6 of the model, measured;
#: the read-out's line length and peak are kinked along the path). A relative error of such a
#: change says more about the seed than about the attributions, so the tiny model's are held to
#: TOLERANCE plus this floor; a wrong attribution (a missed factor, a path piece or a stopped
#: gradient) is off by the size of the attributions themselves (1e-3 to 0.2 here). The shipped
#: model, whose answers move by tenths of a nat to nats, is held to TOLERANCE alone (slow test).
FLOOR_NATS = COMPLETENESS_FLOOR_NATS  # 1e-4


def assert_complete(total: float, gap: float):
    """``total``: the attributions' sum; ``gap``: f(x) - f(baseline) of the explained answer."""
    assert abs(total - gap) <= TOLERANCE * abs(gap) + FLOOR_NATS, \
        f"the attributions add up to {total:.3g}, the answer moved by {gap:.3g} nats"


def change_of(model, x, target, baseline=None) -> float:
    return float(answer_change(model, x, target, baseline)[0])


#: tasks the tiny decoder decides by its read-out (p300 and auditory_oddball keep the spectral head)
READOUT_TASKS = ("n170", "eyes", "ssvep", "sleep_stage")
#: of those, the ones that also read sample entropy (a window's task and a sequence task)
ENTROPY_TASKS = ("n170", "sleep_stage")


def tiny_brainkit(attn_implementation="eager", seed=0) -> Brainkit:
    """A Brainkit with a tiny tokenizer, decoder and language model (no checkpoint, no SmolLM2);
    the tasks of :data:`READOUT_TASKS` are decided by read-out heads of random weights."""
    lm, tok = tiny_language_model(attn_implementation=attn_implementation)
    torch.manual_seed(seed)
    tokenizer = BrainTokenizer(BrainTokenizerConfig(d_model=16, n_sources=4, codebook_size=32,
                                                    n_levels=2)).eval()
    cfg = BrainDecoderConfig(lm_hidden=lm.config.hidden_size, latent_dim=16, n_sources=4, d_model=32,
                             n_soft_tokens=4, pool_size=3, n_layers=1, n_query_layers=1, dropout=0.0,
                             readout_tasks=READOUT_TASKS, entropy_tasks=ENTROPY_TASKS)
    bk = object.__new__(Brainkit)  # Brainkit's methods, without loading a checkpoint
    bk.checkpoint, bk._lock = None, threading.Lock()
    bk.tokenizer, bk.decoder = tokenizer, BrainDecoder(cfg).attach_lm(lm, tok).eval()
    return bk


def make_windows(names=("Fz", "Cz", "Pz", "Oz"), n=3, seconds=1.0, seed=1) -> Windows:
    sensors, _ = sensors_from_info(mne.create_info(list(names), 256.0, "eeg"))
    x = np.random.default_rng(seed).normal(size=(n, len(names), int(seconds * 256))).astype(np.float32)
    return Windows(x, 256.0, np.arange(n, dtype=float), sensors, np.full(len(names), 1e-5))


@pytest.fixture(scope="module")
def bk():
    # Any seed: the file passes at seeds 0-6 of the tiny model (checked when its completeness and
    # sanity assertions were set to what holds for random models, not for one of them).
    return tiny_brainkit(seed=3)


@pytest.fixture(scope="module")
def windows():
    return make_windows()


@pytest.fixture(scope="module")
def problem(bk, windows):
    """(model frozen at the first window, the window, the answer it gives)."""
    x = torch.from_numpy(windows.x[:1])
    model = AnswerModel(bk.tokenizer, bk.decoder, windows.sensors, windows.scale, TASK, 256.0, anchor=x)
    with torch.no_grad():
        target = int(model(x).argmax())
    return model, x, target


# ------------------------------------------------------------------------ integrated gradients


def test_wrapper_gives_the_known_answer_of_a_linear_model():
    """(model, x, target) -> attribution shaped like x; for a linear model IG is weight * input."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8, 2))
    x = torch.randn(2, 3, 8)
    attr = integrated_gradients(model, x, 1, n_steps=8)
    assert attr.shape == x.shape
    torch.testing.assert_close(attr, model[1].weight[1].view(3, 8) * x, rtol=1e-5, atol=1e-6)


def test_pieces_capture_log_band_power_near_the_zero_baseline():
    """Log band power jumps within alpha ~ 1e-4 of a zero baseline: a plain 32-step path misses
    much of it, the path cut per decade does not."""
    bands = BrainDecoderConfig().bands_hz

    def model(x):  # (N, C, T) -> (N, 1): all log band powers
        return band_power_features(x, 256.0, bands).sum((1, 2))[:, None]

    x = torch.randn(1, 2, 1024, generator=torch.Generator().manual_seed(0))
    plain = integrated_gradients(model, x, 0, n_steps=32, boundaries=(0.0, 1.0))
    cut = integrated_gradients(model, x, 0, n_steps=32)
    assert completeness(model, x, 0, plain)[1][0] > 0.1
    assert completeness(model, x, 0, cut)[1][0] < 0.01


def test_steps_are_doubled_until_the_attributions_add_up():
    """log(1 + 50 |x|^2) from zero bends within the path's first tenth: one Gauss-Legendre node
    misses a quarter of it (two: 4 %, four: 7 %, eight: 0.4 %); doubling reaches 5 %, and a linear
    model is complete at once."""
    def bent(z):  # (N, C, T) -> (N, 2)
        s = torch.log1p(50 * z.pow(2).flatten(1).sum(1))
        return torch.stack([s, -s], 1)

    x, zero = torch.full((1, 2, 8), 0.5), torch.zeros(1, 2, 8)
    attr, error, relative, steps = complete_integrated_gradients(bent, x, 0, baseline=zero, n_steps=1, max_steps=1)
    assert steps.tolist() == [1] and relative[0] > 0.2  # what one step misses
    attr, error, relative, steps = complete_integrated_gradients(bent, x, 0, baseline=zero, n_steps=1, max_steps=256)
    assert 1 < steps[0] <= 256 and relative[0] <= TOLERANCE
    assert float(attr.sum()) == pytest.approx(float(bent(x)[0, 0] - bent(zero)[0, 0]), rel=TOLERANCE)
    torch.manual_seed(0)
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    assert complete_integrated_gradients(linear, x, 1, baseline=zero, n_steps=2)[3].tolist() == [2]


def test_several_starts_average_their_paths_and_double_only_the_hard_ones():
    """Expected gradients over three starts: the mean attributions add up to f(x) minus the mean
    of f(start); the path from zero (bent near its start) is doubled, the short ones are not."""
    def bent(z):
        s = torch.log1p(50 * z.pow(2).flatten(1).sum(1))
        return torch.stack([s, -s], 1)

    x = torch.full((1, 2, 8), 0.5)
    starts = torch.stack([torch.zeros(2, 8), torch.full((2, 8), 0.5), torch.full((2, 8), 0.45)])
    attr, error, relative, steps = complete_integrated_gradients(bent, x, 0, baseline=starts, n_steps=1,
                                                                 max_steps=256)
    assert attr.shape == x.shape and steps[0] > 1 and steps[1:].tolist() == [1, 1]
    change = float(bent(x)[0, 0] - bent(starts)[:, 0].mean())
    assert relative[0] <= TOLERANCE and float(attr.sum()) == pytest.approx(change, rel=TOLERANCE)
    assert error[0] == pytest.approx(abs(float(attr.sum()) - change), abs=1e-6)


def test_integrated_gradients_are_complete(problem):
    model, x, target = problem
    attr = integrated_gradients(model, x, target, n_steps=N_STEPS, internal_batch_size=16)
    assert attr.shape == x.shape and torch.isfinite(attr).all()
    assert_complete(float(attr.sum()), change_of(model, x, target))


def test_frozen_model_is_the_model_at_the_window(bk, windows, problem):
    model, x, _ = problem
    with torch.no_grad():
        p = model(x).exp().numpy()[0]
    np.testing.assert_allclose(p, bk.predict(windows.select([0]), TASK).probabilities[0], rtol=1e-4)


def test_zero_attribution_when_input_equals_baseline(problem):
    model, x, target = problem
    attr = integrated_gradients(model, torch.zeros_like(x), target, n_steps=7)
    assert torch.count_nonzero(attr) == 0


def test_token_attributions_are_complete(bk, problem):
    model, x, target = problem
    with torch.no_grad():
        codes, _ = bk.tokenizer.encode(x, model.sensors)
        bp = band_power_features(x, 256.0, bk.decoder.config.bands_hz)
        readout = model.readout_inputs(x)  # the read-out decides n170: codes leave it as it is
    tok = TokenAnswerModel(bk.decoder, bk.tokenizer.quantizer.codebooks, bp, model.scale, model.sensors,
                           TASK, router_logits=model.router_logits, readout=readout)
    with torch.no_grad():  # the codes' vectors rebuild the model's own latents: same answer
        torch.testing.assert_close(tok(codes), model(x))
        gap = float(tok(codes)[0, target] - tok(torch.full_like(codes, tok.embed.null))[0, target])
    attr, delta = token_attributions(tok, codes, target, n_steps=32)
    assert attr.shape == codes.shape  # (1, K, P, L)
    assert abs(float(delta[0])) < TOLERANCE * abs(gap)


# ------------------------------------------------------------------------------- read-out


@pytest.fixture(scope="module")
def night():
    """Five 30-s epochs of one recording (sleep_stage is read as a sequence)."""
    return make_windows(("Fz", "Cz", "Pz", "Oz"), n=5, seconds=30.0, seed=7)


def sleep_model(bk, night, row=2):
    x = torch.from_numpy(night.x[row:row + 1])
    context = RecordingContext.of(night, [row])
    return AnswerModel(bk.tokenizer, bk.decoder, night.sensors, night.scale, "sleep_stage", 256.0,
                       anchor=x, context=context), x


def test_read_out_carries_the_gradient(bk, problem):
    """n170 is decided by the read-out: part of the answer's gradient reaches the samples through
    it (the tiny language model reads the answer anchor only weakly: a few percent)."""
    model, x, target = problem

    def gradient(m):
        inputs = x.clone().requires_grad_(True)
        return torch.autograd.grad(m(inputs)[0, target], inputs)[0]

    full = gradient(model)
    path = model.readout
    model.readout = lambda *args: path(*args).detach()
    try:
        blind = gradient(model)
    finally:
        model.readout = path
    assert (full - blind).abs().sum() > 0.01 * full.abs().sum()


def test_sequence_window_is_read_with_its_recording(bk, night):
    """The explained epoch, read with the four others held fixed, is the model's answer for it;
    its attributions from another epoch are complete."""
    model, x = sleep_model(bk, night)
    alone = AnswerModel(bk.tokenizer, bk.decoder, night.sensors, night.scale, "sleep_stage", 256.0,
                        anchor=x)  # a recording of one epoch: its night and neighbours are itself
    with torch.no_grad():
        p = model(x).exp()[0].numpy()
        rows = model.readout_inputs(x), alone.readout_inputs(x)  # (1, k F) each
    np.testing.assert_allclose(p, bk.predict(night, "sleep_stage").probabilities[2], rtol=1e-4)
    assert (rows[0] - rows[1]).abs().max() > 0.1  # the epoch is read relative to its night
    # the tiny model is sure of W: explain the runner-up, whose log-probability moves. (From the
    # zero signal its answer moves by about 1e-3 nats only, below what the quadrature resolves.)
    target = int(np.argsort(p)[-2])
    start = torch.from_numpy(night.x[:1])
    attr = integrated_gradients(model, x, target, baseline=start, n_steps=N_STEPS, internal_batch_size=16)
    assert_complete(float(attr.sum()), change_of(model, x, target, start))


@pytest.mark.parametrize("task", ENTROPY_TASKS)
def test_explained_read_out_is_the_decoded_one(bk, windows, night, task):
    """The explanation's read-out inputs (regions, then sample entropy, held) are the ones
    decoding reads, for a window's task and for a sequence task; named column by column."""
    w, row = (night, 2) if task == "sleep_stage" else (windows, 1)
    x = torch.from_numpy(w.x[row:row + 1])
    context = RecordingContext.of(w, [row])
    model = AnswerModel(bk.tokenizer, bk.decoder, w.sensors, w.scale, task, 256.0, anchor=x, context=context)
    with torch.no_grad():
        explained = model.readout_inputs(x)[0]
    decoded = readout_inputs(bk.decoder, w, task)[row]
    # (float64 against float32: z-scores over five epochs differ by up to 3e-4)
    torch.testing.assert_close(explained, decoded.to(explained.dtype), rtol=1e-3, atol=1e-3)
    names = feature_names(bk.decoder, task)
    assert len(names) == len(decoded) == bk.decoder.readout_heads[task].in_features
    assert names[-len(REGIONS):] == [(r, "sample_entropy") for r in REGIONS]
    torch.testing.assert_close(readout_rows(bk.decoder, task, context)[0], decoded.to(torch.float64),
                               rtol=1e-5, atol=1e-5, check_dtype=False)
    assert float(decoded[-len(REGIONS)]) > 1.5  # white noise is irregular (about 2.2)


def test_readout_contributions_decompose_the_heads_logit(bk, night):
    model, x = sleep_model(bk, night)
    with torch.no_grad():
        row = model.readout_inputs(x)[0]  # (k F,)
    reference = reference_row(bk.decoder, "sleep_stage", model.context)
    out = readout_contributions(bk.decoder, row, "sleep_stage", 3, reference)
    head = bk.decoder.readout_heads["sleep_stage"]
    with torch.no_grad():
        centred = lambda f: float((head(f) - head(f).mean())[3])  # noqa: E731
        expected = centred(row) - centred(reference)
    assert len(out) == head.in_features and {o[0] for o in out} == set(REGIONS)
    assert sum(c for *_, c in out) == pytest.approx(expected, rel=1e-6)
    sizes = [abs(c) for *_, c in out]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > 0
    # a recording with sensors in no region but the whole head: one region, the same sum
    folded = readout_contributions(bk.decoder, row, "sleep_stage", 3, reference, empty=REGIONS[1:])
    assert {o[0] for o in folded} == {"whole"} and len(folded) == len(out) // len(REGIONS)
    assert sum(c for *_, c in folded) == pytest.approx(expected, rel=1e-6)
    by_feature = {}
    for _, f, c in out:
        by_feature[f] = by_feature.get(f, 0.0) + c
    assert all(c == pytest.approx(by_feature[f], abs=1e-12) for _, f, c in folded)
    with pytest.raises(BrainkitError, match="read-out"):
        readout_contributions(bk.decoder, row, "p300")


# ------------------------------------------------------------------------------- attention


def test_attention_rows_sum_to_one(bk, windows):
    x = torch.from_numpy(windows.x)
    latents, bp, scale = bk.features(windows)
    att = connector_attention(bk.decoder, latents, bp, scale, windows.sensors, TASK,
                              readout_inputs(bk.decoder, windows, TASK))
    N, K, P = latents.shape[:3]
    M = bk.decoder.config.n_soft_tokens + 1  # the query tokens and the answer anchor
    assert att.query_maps.shape == (N, M, K, P) and att.channels.shape == (N, M, x.shape[1])
    rows = att.query_maps.sum((-1, -2)) + att.channels.sum(-1)  # each soft token over the memory
    np.testing.assert_allclose(rows, 1.0, atol=1e-5)
    np.testing.assert_allclose(att.source_time.sum((-1, -2)) + att.channels.mean(1).sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(att.routing.sum(-1), 1.0, atol=1e-5)

    soft, row = lm_attention(bk.decoder, att.soft_tokens, TASK)
    np.testing.assert_allclose(row.sum(-1), 1.0, atol=1e-5)  # over prefix, soft tokens, suffix
    parts = build_prompt(bk.decoder.lm[1], get_task(TASK), 0, n_soft_tokens=M)
    assert row.shape[1] == parts.n_prompt_tokens
    np.testing.assert_allclose(soft, row[:, parts.soft_slice], rtol=1e-5, atol=1e-7)
    lm_map = to_sources(soft, att.query_maps)  # (N, K, P): weighted mean of the query maps
    w = soft / soft.sum(-1, keepdims=True)
    np.testing.assert_allclose(lm_map.sum((-1, -2)), (w * att.query_maps.sum((-1, -2))).sum(-1), rtol=1e-5)
    assert (lm_map >= 0).all() and (lm_map.sum((-1, -2)) <= 1 + 1e-6).all()


def test_lm_attention_needs_eager_attention(windows):
    bk = tiny_brainkit(attn_implementation="sdpa")
    latents, bp, scale = bk.features(windows)
    soft = connector_attention(bk.decoder, latents, bp, scale, windows.sensors, "p300").soft_tokens
    with pytest.raises(BrainkitError, match="eager"):
        lm_attention(bk.decoder, soft, "p300")
    with pytest.raises(BrainkitError, match="eager"):
        explain_window(bk, windows, TASK)


# --------------------------------------------------------------------------- sanity checks


def test_cascading_randomisation_changes_the_maps(problem):
    model, x, target = problem
    out = cascading_randomization(model, x, target, n_steps=14, seed=0)
    assert out["layers"][0] == "to_lm" and out["layers"][-1] == "latent_in"
    assert out["layers"][1:3] == ["answer_anchor", "answer_heads"]  # the read-out's head: decisive
    assert len(out["attribution"]) == len(out["layers"]) == len(out["connector_attention"])
    # the attention sits below to_lm: randomising only to_lm leaves it exactly as it was
    assert out["connector_attention"][0] == pytest.approx(1.0)
    # from the read-out's head down (the decisive part for a read-out task), a random decoder
    # explains something else; randomising only to_lm or the anchor's vectors need not. How far
    # the maps of two random decoders still agree is chance: the largest rank correlation from
    # the head down was -0.52 to 0.74 over seeds 0-7 of this model (an unrandomised layer: 1)
    assert max(out["attribution"][2:]) < 0.9
    assert out["attribution_abs"][-1] < 0.9  # magnitudes keep some of the input (x * gradient)
    assert min(out["connector_attention"]) < 0.8
    assert all(np.isnan(r) or -1 <= r <= 1 for r in out["attribution"])


def test_sanity_checks_of_a_window(bk, windows):
    out = sanity_checks(bk, windows, TASK, window_index=0, n_steps=7)
    answers = get_task(TASK).answers
    assert out["answer"] in answers and len(out["layers"]) == len(out["attribution"])
    assert set(out["answer_contrast"]) == set(answers) - {out["answer"]}
    # two options, p1 = 1 - p0: grad log p0 = p1 * g and grad log p1 = -p0 * g with the same
    # g = grad(s0 - s1) at every point of the path, so the two attributions are one vector
    # weighted by p1 and by -p0 along the path: their rank correlation is exactly -1 when p is
    # constant there, and moves from -1 only through near-ties reordered where p changes. The
    # tiny model's p stays near 0.5 (measured: -0.9999995 on every window).
    assert len(out["answer_contrast"]) == 1
    assert list(out["answer_contrast"].values())[0] == pytest.approx(-1.0, abs=1e-3)
    json.dumps(out)


# ------------------------------------------------------------------------- explain command


@pytest.mark.slow
def test_shipped_models_explanations_are_complete(data_dir):
    """On real EEG the shipped model's answer moves by nats from an eyes-open window of the same
    person to an eyes-closed one, and the attributions add up to it (two recordings in one
    ``Windows``: each window keeps its recording's scale)."""
    from brainkit.data.reference import eegmmidb_eyes
    from brainkit.models.checkpoint import DEFAULT_CHECKPOINT
    from brainkit.preprocess import Windows

    if not (DEFAULT_CHECKPOINT / "decoder" / "config.json").exists():
        pytest.skip("no decoder shipped in brainkit/assets/brainkit-base")
    closed = eegmmidb_eyes(data_dir, n_windows=1)[0]
    opened = eegmmidb_eyes(data_dir, n_windows=1, label="open")[0]
    assert list(opened.sensors.names) == list(closed.sensors.names)
    scale = np.vstack([np.asarray(closed.scale), np.asarray(opened.scale)])  # (2, C)
    pair = Windows(np.concatenate([closed.x, opened.x]), closed.sfreq, np.array([0.0, 4.0]), closed.sensors, scale)
    out = explain_window(Brainkit(attn_implementation="eager"), pair, "eyes", 0, n_steps=32, token_steps=4,
                         baseline=1)
    gap = float(out["logprob"] - out["baseline_logprob"])
    assert str(out["answer"]) == "closed" and gap > 1.0  # measured: 1.95 nats
    assert float(out["completeness_relative"]) < TOLERANCE  # measured: 0.7 %
    assert bool(out["complete"]) and int(out["n_steps"]) == 32  # no doubling needed
    assert str(out["baseline"]) == "window"


@pytest.mark.slow
def test_shipped_model_explains_the_sample_against_the_rest_of_it(samples_dir):
    """The Explain page's first view: the sample's first window (eyes open), from four windows
    across the recording. From silence its attributions missed the change 34-fold (the path
    crosses the read-out's floors and back: down 2.8 nats, up 2.8); from the recording they add up."""
    from brainkit.io import read_recording
    from brainkit.models.checkpoint import DEFAULT_CHECKPOINT
    from brainkit.preprocess import make_windows

    if not (DEFAULT_CHECKPOINT / "decoder" / "config.json").exists():
        pytest.skip("no decoder shipped in brainkit/assets/brainkit-base")
    windows = make_windows(read_recording(samples_dir / "eyes_open_closed.edf"), 4.0, 4.0)
    out = explain_window(Brainkit(attn_implementation="eager"), windows, "eyes", 0, token_steps=4)
    assert str(out["baseline"]) == "recording" and out["baseline_windows"].tolist() == [1, 15, 30, 44]
    assert str(out["answer"]) == "open" and float(out["logprob"] - out["baseline_logprob"]) > 0.3  # measured 0.81
    assert bool(out["complete"]), float(out["completeness_relative"])  # measured: 3.8 %, 64 steps


def test_explain_window_contract(bk, windows, tmp_path):
    out = explain_window(bk, windows, TASK, window_index=1, n_steps=14, token_steps=8)
    C, T = windows.x.shape[1:]
    K, L, M, Q = 4, 2, 4, 3
    P = T // 64
    shapes = {"ch_names": (C,), "attribution": (C, T), "channel_attribution": (C,),
              "token_attribution": (K, P, L), "connector_attention": (K, P), "lm_attention": (K, P),
              "routing": (M * Q,), "answer": (), "probabilities": (2,)}
    for key, shape in shapes.items():
        assert out[key].shape == shape, key
    assert all(isinstance(v, np.ndarray) or np.isscalar(v) for v in out.values())
    assert all(np.asarray(v).dtype != object for v in out.values())
    assert str(out["answer"]) in get_task(TASK).answers
    # from windows across the recording, the 14 steps shared by the paths (at least 8 each),
    # each doubled at most twice; complete says whether the saved attributions add up
    starts = out["baseline_windows"]
    assert str(out["baseline"]) == "recording" and int(out["n_paths"]) == len(starts) == min(4, len(windows) - 1)
    assert 1 not in starts and int(out["baseline_index"]) == -1
    per_path = max(8, -(-14 // len(starts)))
    assert set(out["path_steps"].tolist()) <= {per_path, 2 * per_path, 4 * per_path}
    assert int(out["n_steps"]) == out["path_steps"].sum()
    change = float(out["logprob"] - out["baseline_logprob"])
    assert bool(out["complete"]) == bool(abs(float(out["attribution"].sum()) - change)
                                         <= max(TOLERANCE * abs(change), FLOOR_NATS) + 1e-9)
    np.testing.assert_allclose(out["probabilities"].sum(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out["channel_attribution"], out["attribution"].sum(-1), rtol=1e-5)
    assert 0 < out["lm_attention"].sum() <= 1 + 1e-6 and 0 < out["connector_attention"].sum() <= 1 + 1e-6
    assert list(out["ch_names"]) == windows.sensors.names
    names, contributions = out["readout_names"], out["readout_contributions"]
    # Fz, Cz, Pz, Oz: no temporal, left or right sensor, so those regions are the whole head's
    present = len(REGIONS) - len(empty_regions(windows.sensors.pos, windows.sensors.has_position))
    assert present == len(REGIONS) - 3
    assert names.shape == contributions.shape == (present * (len(FEATURE_NAMES) + 1),)  # + sample entropy
    assert sum(n.endswith("sample_entropy") for n in names) == present
    assert names[0].split()[0] in REGIONS and np.abs(contributions[0]) == np.abs(contributions).max()
    np.savez(tmp_path / "explain.npz", **out)
    with np.load(tmp_path / "explain.npz", allow_pickle=False) as z:
        assert set(z.files) == set(out)
    with pytest.raises(BrainkitError, match="window_index"):
        explain_window(bk, windows, TASK, window_index=len(windows))
    spectral = explain_window(bk, windows, "p300", window_index=0, n_steps=7, token_steps=4)
    assert spectral["readout_names"].shape == spectral["readout_contributions"].shape == (0,)


def test_explain_window_from_another_window(bk, windows):
    """Attributions from window 0 to window 1 add up to the change of the answer between them."""
    out = explain_window(bk, windows, TASK, window_index=1, n_steps=14, token_steps=4, baseline=0)
    assert int(out["baseline_index"]) == 0 and str(out["baseline"]) == "window"
    gap = float(out["logprob"] - out["baseline_logprob"])
    assert_complete(float(out["attribution"].sum()), gap)
    assert float(out["completeness_error"]) == pytest.approx(abs(out["attribution"].sum() - gap), abs=1e-6)
    same = explain_window(bk, windows, TASK, window_index=1, n_steps=4, token_steps=4, baseline=1)
    assert np.abs(same["attribution"]).max() == 0  # a path of length zero
    zero = explain_window(bk, windows, TASK, window_index=1, n_steps=14, token_steps=4, baseline="silence")
    assert int(zero["baseline_index"]) == -1 and str(zero["baseline"]) == "silence"
    assert zero["baseline_windows"].size == 0 and not np.allclose(zero["attribution"], out["attribution"])
    with pytest.raises(BrainkitError, match="baseline window .* out of range"):
        explain_window(bk, windows, TASK, window_index=1, baseline=len(windows))
    with pytest.raises(BrainkitError, match="'recording', 'silence' or a window index"):
        explain_window(bk, windows, TASK, window_index=1, baseline="rest")


# ------------------------------------------------------------------------ task correlations


def test_topography_interpolates_on_the_common_layout():
    sensors, _ = sensors_from_info(mne.create_info(["Fz", "Cz", "Pz", "Oz"], 256.0, "eeg"))
    grid = topography(sensors, np.array([1.0, 2.0, 3.0, 4.0]))
    assert grid.shape == (len(TOPO_LABELS),) and 1.0 <= grid.min() and grid.max() <= 4.0
    assert grid[TOPO_LABELS.index("Fz")] == pytest.approx(1.0, abs=0.01)  # a channel on a grid point
    assert grid[TOPO_LABELS.index("Oz")] == pytest.approx(4.0, abs=0.01)
    assert topography(sensors.pick([0]), np.array([1.0])) is None  # one channel: no topography


def test_linear_cka_properties():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6))
    rot, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, 3.0 * x @ rot + 1.0) == pytest.approx(1.0)  # rotation, scale, shift
    assert 0 <= linear_cka(x, rng.normal(size=(40, 5))) < 0.5
    assert linear_cka(x, np.ones((40, 3))) == 0.0


def test_shared_choices_count_the_slots_that_chose_the_same_query():
    a = np.array([[0, 1, 2], [3, 3, 0]])
    assert shared_choices(a, a) == 1.0
    assert shared_choices(a, np.array([[0, 2, 2], [1, 3, 1]])) == pytest.approx(3 / 6)
    assert shared_choices(a, (a + 1) % 4) == 0.0
    with pytest.raises(ValueError, match="same windows"):
        shared_choices(a, a[:1])


def test_task_correlations_are_symmetric_and_reproducible(bk):
    reference = {"n170": make_windows(n=4, seed=2),
                 "p300": make_windows(("TP9", "AF7", "AF8", "TP10"), n=4, seed=3),
                 "ssvep": make_windows(("O1", "Oz", "O2"), n=3, seconds=2.0, seed=4),
                 "auditory_oddball": make_windows(("Cz",), n=3, seed=5)}  # one channel: no topography
    out = task_correlations(bk, reference, seed=0, n_attribution=2, n_steps=7)
    assert set(out) == {"tasks", "order", "matrices", "n_windows"}
    assert out["tasks"] == ["p300", "n170", "ssvep", "auditory_oddball"]  # registry order
    assert sorted(out["order"]) == sorted(out["tasks"])
    assert out["n_windows"] == {"p300": 4, "n170": 4, "ssvep": 3, "auditory_oddball": 3}
    for name in ("routing", "attribution", "representation"):
        m = np.array(out["matrices"][name])
        assert m.shape == (4, 4), name
        np.testing.assert_allclose(m, m.T)
        np.testing.assert_allclose(np.diag(m), 1.0)
        assert (m >= -1).all() and (m <= 1).all(), name
    assert np.array(out["matrices"]["attribution"])[3, :3].tolist() == [0.0, 0.0, 0.0]
    # routing: a fraction of the choices of the same 14 windows' M slots under two captions
    choices = 14 * bk.decoder.config.n_soft_tokens
    routing = np.array(out["matrices"]["routing"]) * choices
    np.testing.assert_allclose(routing, np.round(routing), atol=choices * 5e-7)  # stored to 6 decimals
    json.dumps(out, allow_nan=False)
    assert task_correlations(bk, reference, seed=0, n_attribution=2, n_steps=7) == out


def test_reference_windows_from_validation_sets(data_dir):
    a = reference_windows(data_dir, n_per_task=5, seed=0, tasks=["n170"])
    b = reference_windows(data_dir, n_per_task=5, seed=0, tasks=["n170"])
    assert set(a) == {"n170"} and a["n170"].x.shape[0] == 5
    assert a["n170"].scale.shape == (a["n170"].x.shape[1],)
    np.testing.assert_array_equal(a["n170"].x, b["n170"].x)
