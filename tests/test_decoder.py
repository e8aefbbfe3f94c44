"""The decoder on tiny models: query selection gets gradients, is per sample, and follows the task."""

import mne
import pytest
import torch

from brainkit.models.decoder import BrainDecoder, BrainDecoderConfig
from brainkit.models.spectral import band_power_features
from brainkit.models.llm import tiny_language_model
from brainkit.sensors import sensors_from_info
from brainkit.tasks import TASK_IDS, get_task

K, P, D, C = 4, 8, 16, 3


@pytest.fixture(scope="module")
def decoder():
    lm, tok = tiny_language_model(attn_implementation="eager")
    torch.manual_seed(0)
    cfg = BrainDecoderConfig(lm_hidden=lm.config.hidden_size, latent_dim=D, n_sources=K, d_model=32,
                             n_soft_tokens=4, pool_size=3, dropout=0.0)
    return BrainDecoder(cfg).attach_lm(lm, tok)


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(1)
    sensors, _ = sensors_from_info(mne.create_info(["Fz", "Cz", "Pz"], 256.0, "eeg"))
    x = torch.randn(6, C, 512, generator=g)
    latents = torch.randn(6, K, P, D, generator=g)
    return latents, band_power_features(x, 256.0, BrainDecoderConfig().bands_hz), torch.full((C,), 1e-5), sensors


def test_router_receives_gradients(decoder, inputs):
    decoder.train()
    decoder.zero_grad()
    out = decoder(*inputs, "sleep_stage", labels=torch.tensor([0, 1, 2, 3, 4, 0]))
    out["loss"].backward()
    router_grad = sum(p.grad.abs().sum() for p in decoder.router.parameters())
    assert router_grad > 0
    assert decoder.caption_in.weight.grad.abs().sum() > 0  # the caption embedding is used
    assert decoder.queries.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in decoder.lm[0].parameters())  # the LM stays frozen


def test_routing_is_per_sample(decoder, inputs):
    decoder.eval()
    latents, bp, scale, sensors = inputs
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        a = decoder.connect(latents, bp, scale, sensors, "eyes")
        b = decoder.connect(latents[perm], bp[perm], scale, sensors, "eyes")
        one = decoder.connect(latents[2:3], bp[2:3], scale, sensors, "eyes")
    torch.testing.assert_close(b.routing, a.routing[perm])
    torch.testing.assert_close(b.soft_tokens, a.soft_tokens[perm], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(one.soft_tokens[0], a.soft_tokens[2], atol=1e-5, rtol=1e-5)


def test_caption_changes_routing(decoder, inputs):
    decoder.eval()
    with torch.no_grad():
        routes = [decoder.connect(*inputs, t).routing for t in ("eyes", "sleep_stage", "p300")]
    assert not torch.allclose(routes[0], routes[1]) and not torch.allclose(routes[1], routes[2])


@pytest.mark.parametrize("task", TASK_IDS)
def test_every_option_is_scorable_and_probabilities_sum_to_one(decoder, inputs, task):
    decoder.eval()
    with torch.no_grad():
        conn = decoder.connect(*inputs, task)
        logp, att = decoder.answer_logprobs(conn.soft_tokens, task, return_lm_attention=True)
    assert logp.shape == (6, len(get_task(task).answers)) and torch.isfinite(logp).all()
    assert torch.allclose(logp.softmax(-1).sum(-1), torch.ones(6, dtype=logp.dtype))
    assert conn.soft_tokens.shape[1] == decoder.config.n_soft_tokens + 1  # + the answer anchor
    assert att.shape == (6, conn.soft_tokens.shape[1]) and (att >= 0).all()


def test_answer_anchor_is_the_aux_mixture_of_answer_prototypes(decoder, inputs):
    """The last soft token is p_aux @ prototypes; fresh prototypes are the answer words' embeddings."""
    decoder.eval()
    torch.testing.assert_close(decoder.answer_prototypes["eyes"].detach(),
                               decoder._answer_embeddings("eyes"))
    with torch.no_grad():
        conn = decoder.connect(*inputs, "eyes", return_attention=True)
    expected = conn.aux_logits.softmax(-1) @ decoder.answer_prototypes["eyes"]
    torch.testing.assert_close(conn.soft_tokens[:, -1], expected)
    assert conn.query_attention.shape[1] == conn.soft_tokens.shape[1]


def test_an_anchor_temperature_sharpens_the_mixture_of_one_task_only(decoder, inputs):
    """``anchor_temperatures[task] = T``: the anchor is softmax(aux / T) @ prototypes for that task
    (near T = 0 the most likely answer's prototype), the other tasks unchanged."""
    decoder.eval()
    with torch.no_grad():
        before = decoder.connect(*inputs, "sleep_stage").soft_tokens[:, -1]
        decoder.config.anchor_temperatures = {"eyes": 1e-4}
        try:
            conn = decoder.connect(*inputs, "eyes")
            sleep = decoder.connect(*inputs, "sleep_stage").soft_tokens[:, -1]
        finally:
            decoder.config.anchor_temperatures = {}
    chosen = decoder.answer_prototypes["eyes"][conn.aux_logits.argmax(-1)]
    torch.testing.assert_close(conn.soft_tokens[:, -1], chosen)
    assert not torch.allclose(chosen, conn.aux_logits.softmax(-1) @ decoder.answer_prototypes["eyes"])
    torch.testing.assert_close(sleep, before)


def test_option_scores_match_teacher_forcing(decoder, inputs):
    """The batched, cached option scoring equals scoring each answer in one plain forward pass."""
    from brainkit.tasks import build_prompt

    decoder.eval()
    lm, tok = decoder.lm
    with torch.no_grad():
        conn = decoder.connect(*inputs, "sleep_stage")
        logp, _ = decoder.answer_logprobs(conn.soft_tokens[:1], "sleep_stage")
        M = conn.soft_tokens.shape[1]
        parts = build_prompt(tok, "sleep_stage", n_soft_tokens=M)
        emb = lm.get_input_embeddings()
        for a, option in enumerate(parts.option_ids):
            ids = torch.tensor(parts.suffix_ids + option)
            x = torch.cat([emb(torch.tensor(parts.prefix_ids))[None], conn.soft_tokens[:1], emb(ids)[None]], 1)
            lp = lm(inputs_embeds=x).logits.log_softmax(-1)[0]
            start = len(parts.prefix_ids) + M + len(parts.suffix_ids) - 1
            ref = sum(lp[start + i, t] for i, t in enumerate(option))
            assert float(logp[0, a]) == pytest.approx(float(ref), abs=1e-3)


def test_save_load_round_trip(decoder, inputs, tmp_path):
    decoder.eval()
    decoder.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert not any(p.suffix in (".bin", ".pt") for p in tmp_path.iterdir())
    loaded = BrainDecoder.from_pretrained(tmp_path, use_safetensors=True).attach_lm(*decoder.lm).eval()
    with torch.no_grad():
        a = decoder.connect(*inputs, "workload").soft_tokens
        b = loaded.connect(*inputs, "workload").soft_tokens
    torch.testing.assert_close(a, b)
    assert not any(k.startswith("_lm") or "lm_head" in k for k in loaded.state_dict())


def test_parameter_order_survives_save_and_load(decoder, tmp_path):
    """A resumed optimizer's state is matched by position: the order must not change on reload."""
    decoder.save_pretrained(tmp_path)
    loaded = BrainDecoder.from_pretrained(tmp_path, use_safetensors=True)
    assert [n for n, _ in decoder.named_parameters()] == [n for n, _ in loaded.named_parameters()]
    assert [p.shape for p in decoder.parameters()] == [p.shape for p in loaded.parameters()]


def test_spectral_head_reads_band_power_statistics(decoder, inputs):
    """The auxiliary logits include a linear read-out of channel band-power mean and spread."""
    decoder.eval()
    head = decoder.spectral_heads["seizure"]
    assert head.in_features == 5 * (len(decoder.config.bands_hz) + 1)  # 4 spatial weightings + spread
    with torch.no_grad():
        before = decoder.connect(*inputs, "seizure").aux_logits
        saved = head.weight.clone()
        head.weight.add_(1.0)
        after = decoder.connect(*inputs, "seizure").aux_logits
        head.weight.copy_(saved)
    assert not torch.allclose(before, after)


def test_spectral_statistics_ignore_channel_order_and_see_position():
    from brainkit.models.spectral import spectral_statistics

    torch.manual_seed(0)
    feat, pos = torch.randn(3, 5, 8), torch.randn(5, 3) * 0.08
    perm = torch.randperm(5)
    a, b = spectral_statistics(feat, pos), spectral_statistics(feat[:, perm], pos[perm])
    assert a.shape == (3, 40)
    torch.testing.assert_close(a, b)
    moved = spectral_statistics(feat, pos.flip(0))  # same channels, other places: other summary
    assert not torch.allclose(a[:, 8:32], moved[:, 8:32])


def test_long_windows_are_pooled_in_time_like_their_mean(decoder):
    """Patches beyond max_time_tokens are averaged in groups before the connector: a long window
    gives the soft tokens of the short window of its group means (time embeddings averaged
    alike); its attention maps stay per patch."""
    from brainkit.models.decoder import pool_time, unpool_time

    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, K, 10, D, generator=g)
    pooled, r = pool_time(x, 4)  # 10 patches -> groups of 3: 3 + 3 + 3 + 1
    assert r == 3 and pooled.shape == (2, K, 4, D)
    torch.testing.assert_close(pooled[:, :, 1], x[:, :, 3:6].mean(2))
    torch.testing.assert_close(pooled[:, :, 3], x[:, :, 9])  # the short last group: its own mean
    assert pool_time(x, 16)[0] is x  # short windows untouched
    att = torch.rand(2, 5, K * 4).softmax(-1)
    spread = unpool_time(att, 10, 3)
    assert spread.shape == (2, 5, K * 10)
    torch.testing.assert_close(spread.sum(-1), att.sum(-1))

    decoder.eval()
    sensors, _ = sensors_from_info(mne.create_info(["Fz", "Cz", "Pz"], 256.0, "eeg"))
    bp, scale = torch.randn(2, C, len(decoder.config.bands_hz), generator=g), torch.full((C,), 1e-5)
    long = torch.randn(2, K, 12, D, generator=g)
    short = long.unflatten(2, (4, 3)).mean(3)  # (2, K, 4, D): the means of groups of 3 patches
    saved_time, saved_max = decoder.time_emb.data.clone(), decoder.config.max_time_tokens
    try:
        decoder.config.max_time_tokens = 4
        with torch.no_grad():
            b = decoder.connect(long, bp, scale, sensors, "eyes", return_attention=True)
            decoder.time_emb.data[:4] = saved_time[:12].unflatten(0, (4, 3)).mean(1)  # pooled alike
            a = decoder.connect(short, bp, scale, sensors, "eyes", return_attention=True)
    finally:
        decoder.time_emb.data.copy_(saved_time)
        decoder.config.max_time_tokens = saved_max
    torch.testing.assert_close(b.soft_tokens, a.soft_tokens)
    assert b.query_attention.shape[-1] == K * 12 + C
    torch.testing.assert_close(b.query_attention.sum(-1), a.query_attention.sum(-1))


def test_answers_sharing_leading_tokens_are_scored_as_separate_rows(decoder, inputs):
    """The prefix tree of later tokens gives each answer what a plain pass over it alone gives."""
    decoder.eval()
    with torch.no_grad():
        conn = decoder.connect(*inputs, "sleep_stage")
        logp, _ = decoder.answer_logprobs(conn.soft_tokens[:2], "sleep_stage")
        for a, answer in enumerate(get_task("sleep_stage").answers):
            alone, _ = decoder.answer_logprobs(conn.soft_tokens[:2], "sleep_stage", answers=[answer])
            torch.testing.assert_close(alone[:, 0], logp[:, a], atol=1e-4, rtol=1e-4)
