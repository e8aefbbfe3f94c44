"""Sanity checks of the explanations (Adebayo et al. 2018, "Sanity checks for saliency maps").

Cascading randomisation of the decoder from the top layer down must change the maps (Spearman
rank correlation with the trained model's map, per step), and the map of another answer must
differ from the chosen one's. Magnitude maps keep part of the input's pattern under any weights
(integrated gradients multiply by ``x``); the signed maps are the stricter test.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn

from brainkit._logging import logger
from brainkit.errors import BrainkitError
from brainkit.explain.attention import connector_attention
from brainkit.explain.attribution import AnswerModel, integrated_gradients, window_model
from brainkit.explain.context import explaining, fixed_router, model_lock
from brainkit.tasks import get_task


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def decoder_layers(decoder) -> list[tuple[str, list]]:
    """The decoder's parts from the top (next to the language model) down, for randomisation.

    The language model reads two kinds of soft tokens: the queries' (through ``to_lm``) and the
    answer anchor (the answer heads' probabilities times ``answer_prototypes``). The answer heads
    (the read-out heads, which decide every task in ``config.readout_tasks``, and the auxiliary
    and spectral heads) come right after the prototypes: for a read-out task they are the
    decisive layer.
    """
    n = len(decoder.query_blocks)
    layers = [("to_lm", [decoder.to_lm]), ("answer_anchor", [decoder.answer_prototypes]),
              ("answer_heads", [decoder.readout_heads, decoder.spectral_heads, decoder.aux_heads])]
    layers += [(f"query_layer_{i}", [decoder.query_self[i], decoder.query_blocks[i]])
               for i in reversed(range(n))]
    layers += [("query_selection", [decoder.queries, decoder.router, decoder.caption_in]),
               ("channel_tokens", [decoder.channel_in, decoder.sensor_in, decoder.type_emb])]
    layers += [(f"connector_layer_{i}", [decoder.time_blocks[i], decoder.space_blocks[i]])
               for i in reversed(range(len(decoder.space_blocks)))]
    return layers + [("latent_in", [decoder.latent_in, decoder.source_emb, decoder.time_emb])]


@torch.no_grad()
def _reinitialise(parts, std: float = 0.02):
    """Fresh weights as at construction: linear N(0, std) truncated, zero bias; layer norms reset."""
    for part in parts:
        if isinstance(part, nn.Parameter):
            part.normal_(0.0, std)
            continue
        if isinstance(part, nn.ParameterDict):
            for p in part.values():
                p.normal_(0.0, std)
            continue
        for m in part.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=std)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.LayerNorm):
                m.reset_parameters()


def copy_decoder(decoder):
    """A deep copy of the decoder sharing its (frozen) language model and prefix cache."""
    memo = {id(decoder._lm): decoder._lm, id(decoder._prefix_cache): decoder._prefix_cache}
    return copy.deepcopy(decoder, memo)


def cascading_randomization(model: AnswerModel, x, target, n_steps: int = 32, seed: int = 0,
                            internal_batch_size: int | None = None) -> dict:
    """Adebayo et al. (2018): re-initialise the decoder from the top layer down, one more part at
    a time, and compare each explanation with the trained model's by Spearman rank correlation.

    Maps that do not change when the weights are destroyed explain the input, not the model.

    Parameters
    ----------
    model : AnswerModel
        With ``anchor`` set to x.
    x : Tensor, shape (1, C, T)
    target : int

    Returns
    -------
    dict
        ``layers`` (names, top first, cumulative), ``attribution`` and ``attribution_abs``
        (Spearman of the signed and absolute integrated gradients, per layer),
        ``connector_attention`` (Spearman of the (K, P) attention map; 1 while only parts above
        the attention are randomised).
    """
    def maps(m):
        attr = integrated_gradients(m, x, target, n_steps=n_steps, internal_batch_size=internal_batch_size)
        with torch.no_grad():
            xs, z = m._sources(x)
            lat = z + m.offset  # the anchor's quantized latents
            with fixed_router(m.decoder, m.router_logits):
                att = connector_attention(m.decoder, lat, m._bandpower(xs), m.scale, m.sensors, m.task,
                                          m.readout_inputs(x))
        return attr.numpy(), att.source_time

    if model.offset is None:
        raise BrainkitError("cascading_randomization needs an AnswerModel frozen at its window "
                            "(anchor=x, frozen=True)")
    out = {"layers": [], "attribution": [], "attribution_abs": [], "connector_attention": []}
    with explaining(model.tokenizer, model.decoder), torch.random.fork_rng(devices=[]):
        base_attr, base_att = maps(model)
        decoder = copy_decoder(model.decoder)
        torch.manual_seed(seed)
        for name, _ in decoder_layers(model.decoder):
            _reinitialise(dict(decoder_layers(decoder))[name])
            attr, att = maps(model.with_decoder(decoder))
            out["layers"].append(name)
            out["attribution"].append(_spearman(base_attr, attr))
            out["attribution_abs"].append(_spearman(np.abs(base_attr), np.abs(attr)))
            out["connector_attention"].append(_spearman(base_att, att))
            logger.info("randomised down to %s: rank correlation %.3f", name, out["attribution"][-1])
    return out


def answer_contrast(model: AnswerModel, x, target: int, n_steps: int = 32,
                    internal_batch_size: int | None = None) -> dict[str, float]:
    """Label check: Spearman correlation of the chosen answer's attribution with every other's.

    With option-normalised probabilities, evidence for one of two answers is evidence against
    the other: expect strongly negative correlations for binary tasks, and anything but 1.
    """
    answers = get_task(model.task).answers
    with explaining(model.tokenizer, model.decoder):
        attr = [integrated_gradients(model, x, a, n_steps=n_steps, internal_batch_size=internal_batch_size)
                for a in range(len(answers))]
    return {answers[a]: _spearman(attr[target], attr[a]) for a in range(len(answers)) if a != target}


def sanity_checks(bk, windows, task: str, window_index: int = 0, n_steps: int = 32, seed: int = 0,
                  internal_batch_size: int | None = 16) -> dict:
    """:func:`cascading_randomization` and :func:`answer_contrast` for one window of a Brainkit.

    Returns
    -------
    dict (JSON-ready)
        The keys of :func:`cascading_randomization`, ``answer`` (the answer explained) and
        ``answer_contrast`` ({other answer: Spearman correlation}).
    """
    model, _, x, a = window_model(bk, windows, task, window_index)
    with model_lock(bk):
        out = cascading_randomization(model, x, a, n_steps, seed, internal_batch_size)
        out["answer_contrast"] = answer_contrast(model, x, a, n_steps, internal_batch_size)
    out["answer"] = get_task(task).answers[a]
    return out
