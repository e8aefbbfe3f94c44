"""BrainTokenizer: any EEG or MEG sensor layout -> discrete neural tokens, and back.

BrainOmni-style (arXiv 2505.18185) with NeuroLM's spectral target (arXiv 2409.00101):

1. **Sensor encoder.** Each channel is known by physics, not by name: an MLP over its position
   (Fourier features, head frame) and orientation, plus an embedding of its kind (eeg, mag, grad).
   A channel without a known position uses a learned "unknown position" vector in place of the
   position features.
2. **Patch encoder.** Every channel is cut into patches of ``patch_size`` samples; each patch goes
   through a linear projection of its waveform plus a small MLP of its waveform and log amplitude
   spectrum, then the sensor embedding is added and a depthwise convolution mixes neighbouring
   patches of the same channel.
3. **Latent sources.** ``n_sources`` learned queries gather the C channel tokens of each patch by
   cross-attention (an inverse forward model). The attention keys are the **sensor embeddings
   only**, the values carry the signal: each source is a spatial filter, a function of where the
   sensors sit, not of what they record. (With keys from the signal too, training settled on
   uniform attention: every source was the same average of all channels, and a 4-channel headset
   came out as four copies of one waveform.) Attention pools over channels, so any C works and
   the sources do not depend on channel order; masked channels are never attended to. The sources
   then attend to each other and mix with their neighbouring patches.
4. **Residual VQ.** ``n_levels`` codebooks of ``codebook_size`` codes quantize each source feature
   in turn; codebooks follow exponential moving averages of their assigned vectors (training mode
   only), start from data, and restart codes that went unused for ``dead_code_steps`` steps from
   current encoder outputs. Commitment loss; straight-through gradients.
5. **Decoder.** Each sensor (query: its sensor embedding) attends to the K quantized sources of its
   patch, after these sources have mixed with the neighbouring patches; the keys are learned
   source identities, so each sensor reads a mixture of sources fixed by its position (a forward
   model), and the values carry the content. A depthwise convolution over the sensor's patches
   smooths patch borders; a linear head writes the waveform.

Patch size: 0.25 s (64 samples at 256 Hz). The windows downstream are 1 s (ERPs), 2-4 s and 30 s
(sleep): 0.25 s leaves four time steps in a 1-s ERP window (a 1-s patch would leave one, losing
the P300/N170 latency), keeps 30-s windows at 120 steps, and is a power of two for the FFT. Slow
rhythms longer than a patch are carried by the temporal mixing and scored by the window-level
spectral loss (0.25-Hz resolution at 4 s). No absolute patch position is used anywhere (only
convolutions over neighbouring patches), so tokens are translation-equivariant and a model trained
on 4-s crops tokenizes windows of any length the same way.

Windows whose length T is not a multiple of ``patch_size`` are padded at the end by repeating the
last sample, and the reconstruction is cropped back to T; losses only see the first T samples.

The parts live beside this file: the sensor encoder and patch embedding in
:mod:`~brainkit.models.embedding`, the attention blocks in :mod:`~brainkit.models.layers`, the
quantizer in :mod:`~brainkit.models.quantizer`, the loss terms in :mod:`~brainkit.models.reconstruction`.

Shapes: N windows, C channels, T samples, P patches, S = patch_size, K sources, L levels, D = d_model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from brainkit.errors import BrainkitError
from brainkit.models.embedding import PatchEmbed, SensorEncoder, SensorTensors, sensor_tensors
from brainkit.models.layers import Block, Names, TemporalMix
from brainkit.models.quantizer import ResidualVQ, codebook_usage
from brainkit.models.reconstruction import reconstruction_losses, reconstruction_r
from brainkit.preprocess import DEFAULT as DEFAULT_PREPROCESS
from brainkit.sensors import MODEL_KINDS

__all__ = ["BrainTokenizer", "BrainTokenizerConfig", "BrainTokenizerOutput", "ResidualVQ", "SensorTensors",
           "codebook_usage", "reconstruction_r", "sensor_tensors", "tokenize_windows"]

#: what the tokenizer's blocks call their parts (the keys of its checkpoints; see layers.Names)
BLOCK_NAMES = Names(norm="ln_", out="proj", mlp=("fc", "proj"))
#: source features quantized per call in :meth:`BrainTokenizer.encode`: the distances of 8,192
#: features to 256 codes (8 MB) stay in cache; one call for a batch of 32 30-s windows (61,440
#: features, 63 MB of distances per level) took 1.8 times as long, with the same codes
QUANTIZE_ROWS = 8192


class BrainTokenizerConfig(PretrainedConfig):
    """Hyper-parameters of :class:`BrainTokenizer` (saved as ``config.json`` beside the weights).

    Parameters
    ----------
    sfreq : float
        Sampling rate (Hz) the model expects (equal to ``preprocess["sfreq"]``).
    patch_size : int
        Samples per patch (64 = 0.25 s at 256 Hz, see the module docstring).
    d_model : int
        Feature size D of channel tokens, sources and codes.
    n_heads : int
        Attention heads (``d_model`` must be divisible by it).
    n_sources : int
        Latent sources K per patch.
    n_levels : int
        Residual quantizer levels L.
    codebook_size : int
        Codes per level.
    n_kinds : int
        Sensor kinds (eeg=0, mag=1, grad=2).
    pos_scale : float
        Metres mapped to 1 before the position Fourier features (about a head radius).
    n_pos_freqs : int
        Octaves of the position Fourier features (finest wavelength ``2 * pos_scale / 2**(F-1)``).
    mix_kernel : int
        Patches seen by each temporal mixing convolution (odd).
    mlp_ratio : int
        Hidden size of the MLPs, as a multiple of ``d_model``.
    ema_decay : float
        Decay of the codebook moving averages.
    dead_code_steps : int
        A code unused for this many training steps is restarted from a current encoder output.
    spectral_eps : float
        Amplitude floor of the log amplitude loss (signals are about unit scale; amplitudes use
        an orthonormal FFT, so white noise of unit variance has amplitude about 1 per bin).
    spectral_band_hz : float
        Width of the frequency bands whose power the amplitude loss compares; 0 compares every
        FFT bin of the window (0.25 Hz at 4 s).
    spectral_max_hz : float or None
        Highest frequency the amplitude loss scores (None: up to Nyquist).
    w_mse, w_corr, w_amp, w_phase, w_commit : float
        Weights of the loss terms in the total.
    preprocess : dict, optional
        The :class:`~brainkit.preprocess.PreprocessConfig` the model's windows are made with
        (rate, band-pass, notch, clipping, ...), as a dict: saved with the weights so that
        inference prepares signals as training did (:func:`brainkit.models.checkpoint.load_preprocess_config`).
        Default (and for configs saved before this field): ``brainkit.preprocess.DEFAULT`` at ``sfreq``.

    Raises
    ------
    BrainkitError
        When ``preprocess["sfreq"]`` differs from ``sfreq``.
    """

    model_type = "brainkit_tokenizer"

    def __init__(self, sfreq=256.0, patch_size=64, d_model=64, n_heads=4, n_sources=16, n_levels=8,
                 codebook_size=256, n_kinds=3, pos_scale=0.1, n_pos_freqs=5, mix_kernel=3,
                 mlp_ratio=2, ema_decay=0.99, dead_code_steps=50, spectral_eps=0.01,
                 spectral_band_hz=0.0, spectral_max_hz=None, w_mse=1.0, w_corr=1.0, w_amp=1.0,
                 w_phase=0.5, w_commit=0.25, preprocess=None, **kwargs):
        prep = {**asdict(DEFAULT_PREPROCESS), "sfreq": sfreq} if preprocess is None else dict(preprocess)
        if float(prep.get("sfreq", DEFAULT_PREPROCESS.sfreq)) != float(sfreq):
            raise BrainkitError(f"the tokenizer expects {float(sfreq):g} Hz but its preprocessing resamples to "
                                f"{float(prep.get('sfreq', DEFAULT_PREPROCESS.sfreq)):g} Hz; make them agree")
        self.preprocess = prep
        self.sfreq, self.patch_size, self.d_model, self.n_heads = sfreq, patch_size, d_model, n_heads
        self.n_sources, self.n_levels, self.codebook_size = n_sources, n_levels, codebook_size
        self.n_kinds, self.pos_scale, self.n_pos_freqs = n_kinds, pos_scale, n_pos_freqs
        self.mix_kernel, self.mlp_ratio = mix_kernel, mlp_ratio
        self.ema_decay, self.dead_code_steps, self.spectral_eps = ema_decay, dead_code_steps, spectral_eps
        self.spectral_band_hz, self.spectral_max_hz = spectral_band_hz, spectral_max_hz
        self.w_mse, self.w_corr, self.w_amp, self.w_phase, self.w_commit = w_mse, w_corr, w_amp, w_phase, w_commit
        super().__init__(**kwargs)


@dataclass
class BrainTokenizerOutput(ModelOutput):
    """What :meth:`BrainTokenizer.forward` returns.

    Attributes
    ----------
    loss : Tensor, scalar
        Weighted total of ``losses``.
    reconstruction : Tensor, shape (N, C, T)
    codes : Tensor, shape (N, K, P, L), int64
    latents : Tensor, shape (N, K, P, D)
        Quantized source features (straight-through: gradients reach the encoder).
    losses : dict of str to scalar Tensor
        ``mse``, ``corr`` (1 - Pearson r), ``amp`` (L1 distance of log Fourier amplitudes over
        the window, see ``spectral_*`` in the config), ``phase`` (1 - cos of the phase
        difference, weighted by the target amplitude), ``commit`` (summed over levels).
    usage : dict
        :func:`codebook_usage` of ``codes``.
    """

    loss: torch.Tensor | None = None
    reconstruction: torch.Tensor | None = None
    codes: torch.Tensor | None = None
    latents: torch.Tensor | None = None
    losses: dict | None = None
    usage: dict | None = None


class BrainTokenizer(PreTrainedModel):
    """Sensor-aware tokenizer: (N, C, T) windows -> codes (N, K, P, L) -> (N, C, T) reconstruction.

    ``sensors`` arguments take a :class:`~brainkit.sensors.SensorArray` (only ``eeg``, ``mag``,
    ``grad`` channels: pick them with ``sensors.model_picks``), a :class:`SensorTensors`, or a
    ``(pos, ori, kind, has_position)`` tuple, each shaped (C, ...) for all windows or (N, C, ...).
    """

    config_class = BrainTokenizerConfig
    base_model_prefix = "tokenizer"
    main_input_name = "x"

    def __init__(self, config: BrainTokenizerConfig):
        super().__init__(config)
        D, H, R, k = config.d_model, config.n_heads, config.mlp_ratio, config.mix_kernel
        if D % H or k % 2 == 0:
            raise BrainkitError(f"d_model ({D}) must be divisible by n_heads ({H}) and mix_kernel ({k}) odd")
        self.sensor_encoder = SensorEncoder(config)
        # encoder
        self.patch_embed = PatchEmbed(config)
        self.channel_mix = TemporalMix(D, k)
        self.source_queries = nn.Parameter(torch.zeros(config.n_sources, D))
        self.gather = Block(D, H, R, separate_keys=True, names=BLOCK_NAMES)
        self.source_mix = Block(D, H, R, names=BLOCK_NAMES)
        self.source_time = TemporalMix(D, k)
        self.pre_quant = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, D))
        self.quantizer = ResidualVQ(config)
        # decoder
        self.source_embed = nn.Parameter(torch.zeros(config.n_sources, D))
        self.dec_time = TemporalMix(D, k)
        self.dec_mix = Block(D, H, R, names=BLOCK_NAMES)
        self.broadcast = Block(D, H, R, separate_keys=True, names=BLOCK_NAMES)
        self.dec_channel_mix = TemporalMix(D, k)
        self.head = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, config.patch_size))
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, BrainTokenizer):
            init.normal_(module.source_queries, std=0.02)
            init.normal_(module.source_embed, std=0.02)
        elif isinstance(module, SensorEncoder):
            init.normal_(module.unknown, std=0.02)
        elif isinstance(module, ResidualVQ):
            init.normal_(module.codebooks)
            init.copy_(module.sums, module.codebooks)
            init.ones_(module.counts)
            init.zeros_(module.unused_steps)
            init.zeros_(module.initialized)

    # ---------------------------------------------------------------- inputs
    def _prepare(self, x, sensors, channel_mask):
        x = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        if x.ndim != 3:
            raise BrainkitError(f"x must be shaped (n_windows, n_channels, n_times), got {tuple(x.shape)}")
        N, C, T = x.shape
        s = sensor_tensors(sensors, device=self.device)
        if s.pos.shape[-2] != C:
            raise BrainkitError(f"sensors describe {s.pos.shape[-2]} channels but x has {C}")
        if channel_mask is not None:
            channel_mask = torch.as_tensor(channel_mask, dtype=torch.bool, device=self.device)
            channel_mask = channel_mask.expand(N, C)  # (N, C)
            if not channel_mask.any(-1).all():
                raise BrainkitError("channel_mask hides every channel of some window: keep at least one")
        visible = torch.ones(C, dtype=torch.bool, device=self.device) if channel_mask is None else channel_mask
        bad = ((s.kind < 0) | (s.kind >= self.config.n_kinds)) & visible
        if bad.any():
            raise BrainkitError(f"the tokenizer takes channels of kinds {', '.join(MODEL_KINDS)} only; "
                                "select them with sensors.pick(sensors.model_picks)")
        s = s._replace(kind=s.kind.clamp(0, self.config.n_kinds - 1))
        return x, s, channel_mask

    def _embed(self, s):
        emb = self.sensor_encoder(s)  # (C, D) or (N, C, D)
        return emb if emb.ndim == 3 else emb[None]  # (N|1, C, D)

    # ---------------------------------------------------------------- encoder / decoder
    def _sources(self, x, emb, channel_mask):
        """Continuous source features (N, K, P, D) of x (N, C, T) given sensor embeddings (N|1, C, D)."""
        N, C, T = x.shape
        S, K, D = self.config.patch_size, self.config.n_sources, self.config.d_model
        P = -(-T // S)
        if channel_mask is not None:
            x = x.masked_fill(~channel_mask[..., None], 0.0)  # hidden channels may hold anything
        x = F.pad(x, (0, P * S - T), mode="replicate")  # (N, C, P*S)
        h = self.patch_embed(x.reshape(N, C, P, S)) + emb[:, :, None, :]  # (N, C, P, D)
        h = self.channel_mix(h.reshape(N * C, P, D))  # (N*C, P, D)
        h = h.view(N, C, P, D).transpose(1, 2).reshape(N * P, C, D)  # (N*P, C, D)
        mask = None
        if channel_mask is not None:
            mask = channel_mask[:, None, :].expand(N, P, C).reshape(N * P, C)  # (N*P, C)
        keys = emb if emb.shape[0] == 1 else emb[:, None].expand(N, P, C, D).reshape(N * P, C, D)
        src, _ = self.gather(self.source_queries.expand(N * P, K, D), h, mask, keys)  # (N*P, K, D)
        src, _ = self.source_mix(src, src)  # (N*P, K, D)
        src = src.view(N, P, K, D).transpose(1, 2).reshape(N * K, P, D)  # (N*K, P, D)
        src = self.source_time(src)  # (N*K, P, D)
        return self.pre_quant(src).view(N, K, P, D)  # (N, K, P, D)

    def _decode(self, latents, emb):
        """Waveforms (N, C, P*S) from quantized sources (N, K, P, D) and sensor embeddings (N|1, C, D)."""
        N, K, P, D = latents.shape
        C, S = emb.shape[1], self.config.patch_size
        src = latents + self.source_embed[:, None, :]  # (N, K, P, D)
        src = self.dec_time(src.reshape(N * K, P, D))  # (N*K, P, D)
        src = src.view(N, K, P, D).transpose(1, 2).reshape(N * P, K, D)  # (N*P, K, D)
        src, _ = self.dec_mix(src, src)  # (N*P, K, D)
        q = emb.expand(N, C, D)[:, None].expand(N, P, C, D).reshape(N * P, C, D)  # (N*P, C, D)
        h, _ = self.broadcast(q, src, keys=self.source_embed[None])  # (N*P, C, D)
        h = h.view(N, P, C, D).transpose(1, 2).reshape(N * C, P, D)  # (N*C, P, D)
        h = self.dec_channel_mix(h)  # (N*C, P, D)
        return self.head(h).view(N, C, P * S)  # (N, C, P*S)

    def _quantize(self, z, update, with_loss=True, rows: int | None = None):
        """Quantize z (N, K, P, D); ``rows``: at most this many features per quantizer call
        (only without update and loss, where features are quantized independently)."""
        N, K, P, D = z.shape
        flat = z.reshape(-1, D)  # (M, D)
        if rows is None or update or with_loss or len(flat) <= rows:
            q, codes, commit = self.quantizer(flat, update, with_loss)  # (M, D), (M, L), ()
        else:
            parts = [self.quantizer(flat[i:i + rows], False, False) for i in range(0, len(flat), rows)]
            q, codes = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
            commit = z.new_zeros(())
        return q.view(N, K, P, D), codes.view(N, K, P, -1), commit

    # ---------------------------------------------------------------- public API
    def encode(self, x, sensors, channel_mask=None):
        """Tokenize windows. Never updates the codebooks.

        Parameters
        ----------
        x : array or Tensor, shape (N, C, T)
            Windows at ``config.sfreq``, robust-scaled per channel.
        sensors : SensorArray | SensorTensors | tuple
            The C sensors (see the class docstring).
        channel_mask : bool array, shape (N, C) or (C,), optional
            False for channels to ignore (padding, dropped).

        Returns
        -------
        codes : Tensor, shape (N, K, P, L), int64
            P = ceil(T / patch_size).
        latents : Tensor, shape (N, K, P, D)
            Quantized source features (sum of the chosen code vectors over levels).
        """
        x, s, channel_mask = self._prepare(x, sensors, channel_mask)
        z = self._sources(x, self._embed(s), channel_mask)  # (N, K, P, D)
        q, codes, _ = self._quantize(z, update=False, with_loss=False, rows=QUANTIZE_ROWS)
        return codes, q

    def decode(self, codes, sensors, n_times=None):
        """Rebuild waveforms from codes.

        Parameters
        ----------
        codes : Tensor, shape (N, K, P, L), int64
        sensors : SensorArray | SensorTensors | tuple
            Any sensors: those of the encoded recording, or others (spatial interpolation).
        n_times : int, optional
            Crop the output to this many samples (default ``P * patch_size``).

        Returns
        -------
        Tensor, shape (N, C, n_times)
        """
        codes = torch.as_tensor(codes, dtype=torch.long, device=self.device)
        emb = self._embed(sensor_tensors(sensors, device=self.device))  # (N|1, C, D)
        return self._decode(self.quantizer.lookup(codes), emb)[..., :n_times]  # (N, C, T)

    def forward(self, x, sensors, channel_mask=None, target_mask=None) -> BrainTokenizerOutput:
        """Encode, quantize (updating the codebooks in training mode only), decode, score.

        Parameters
        ----------
        x, sensors, channel_mask
            As in :meth:`encode`; ``channel_mask`` hides channels from the encoder.
        target_mask : bool array, shape (N, C) or (C,), optional
            Channels the losses score (default: ``channel_mask``, else all). Pass the real
            channels here and a subset in ``channel_mask`` to train rebuilding hidden channels.

        Returns
        -------
        BrainTokenizerOutput
        """
        x, s, channel_mask = self._prepare(x, sensors, channel_mask)
        N, C, T = x.shape
        emb = self._embed(s)  # (N|1, C, D)
        z = self._sources(x, emb, channel_mask)  # (N, K, P, D)
        q, codes, commit = self._quantize(z, update=self.training)
        latents = z + (q - z).detach()  # straight-through, (N, K, P, D)
        x_hat = self._decode(latents, emb)[..., :T]  # (N, C, T)
        if target_mask is None:
            target_mask = channel_mask
        w = torch.ones(N, C, device=self.device) if target_mask is None else \
            torch.as_tensor(target_mask, device=self.device).expand(N, C).float()  # (N, C)
        target = torch.where(w[..., None] > 0, x, 0.0)  # unscored channels may hold anything
        c = self.config
        losses = reconstruction_losses(target, x_hat, w, c)
        losses["commit"] = commit
        loss = (c.w_mse * losses["mse"] + c.w_corr * losses["corr"] + c.w_amp * losses["amp"]
                + c.w_phase * losses["phase"] + c.w_commit * commit)
        usage = codebook_usage(codes, c.codebook_size)
        return BrainTokenizerOutput(loss, x_hat, codes, latents, losses, usage)


@torch.inference_mode()
def tokenize_windows(model: BrainTokenizer, windows, batch_size: int = 32):
    """Codes and reconstruction of preprocessed windows (``brainkit.preprocess.Windows``).

    Returns
    -------
    codes : ndarray, shape (N, K, P, L), int64
    reconstruction : ndarray, shape (N, C, T), float32
    r : float
        :func:`reconstruction_r` of the windows against their reconstruction.
    """
    codes, recon = [], []
    for i in range(0, len(windows.x), batch_size):
        c, _ = model.encode(windows.x[i:i + batch_size], windows.sensors)
        codes.append(c)
        recon.append(model.decode(c, windows.sensors, n_times=windows.x.shape[-1]))
    codes = torch.cat(codes).cpu().numpy()
    recon = torch.cat(recon).float().cpu().numpy()
    return codes, recon, reconstruction_r(windows.x, recon)
