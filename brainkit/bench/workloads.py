"""What the benchmark measures on: simulated workloads, the EDF of the app test, the model.

Recordings are made in memory by :mod:`brainkit.data.simulate` (nothing written to disk, except
the EDF that the app's reading is timed on). A checkpoint without a decoder gets an untrained
decoder of the shipped architecture: timing does not depend on the weights.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from brainkit.bench.reference import GPT2_SMALL, REFERENCE_NEW_TOKENS

ROOT = Path(__file__).resolve().parents[2]
#: Targets checked (and reported, never asserted).
TARGET_SLEEP_S = 60.0  #: issue 15: the 8-h night in at most 60 s
TARGET_RATIO = 5.0


@dataclass(frozen=True)
class Workload:
    """One simulated recording and what is done with it.

    Attributes
    ----------
    name : str
    kind : {"sleep", "eeg", "meg"}
        Which simulator makes it.
    duration_s : float
    sfreq : float
        Sampling rate of the simulated recording in Hz.
    n_channels : int
        EEG derivations / electrodes (ignored for MEG: always 306).
    tasks : tuple of str
        Decoded tasks (empty: tokenization only).
    window_s : float
        Window length of the tokenization stage.
    """

    name: str
    kind: str
    duration_s: float
    sfreq: float
    n_channels: int
    tasks: tuple = ()
    window_s: float = 4.0

    def describe(self) -> str:
        length = (f"{self.duration_s / 3600:g} h" if self.duration_s >= 3600
                  else f"{self.duration_s / 60:g} min")
        chans = "306-channel MEG" if self.kind == "meg" else f"{self.n_channels}-channel {self.kind.upper()}"
        return f"{length} {chans} at {self.sfreq:g} Hz (simulated)"


@dataclass(frozen=True)
class BenchConfig:
    """Everything a benchmark run depends on (sizes, repeats, model choices)."""

    workloads: tuple
    repeats: int = 3
    edf_duration_s: float = 3600.0
    edf_channels: int = 64
    edf_sfreq: float = 256.0
    reference: dict = field(default_factory=lambda: dict(GPT2_SMALL))
    reference_new_tokens: int = REFERENCE_NEW_TOKENS
    #: windows per task on which brainkit's model and both references are compared
    reference_windows: int = 64
    checkpoint: str | None = None
    lm_path: str | None = None
    int8: bool = False
    profile: bool = False
    accuracy: bool = True
    manifests: str = str(ROOT / "manifests")
    threads: int = 0
    quick: bool = False
    fresh_imports: bool = True
    #: ``"simulator"``: only the teaching simulator's redraw (:mod:`brainkit.bench.simulator`)
    only: str | None = None
    #: montages whose redraw is timed (ids of :data:`brainkit.data.simulate.scene.MONTAGES`)
    simulator_montages: tuple = ("eeg19", "eeg64", "headset4", "meg306")


FULL_WORKLOADS = (
    Workload("sleep", "sleep", 8 * 3600.0, 100.0, 2, ("sleep_stage",), 30.0),
    Workload("clinical", "eeg", 20 * 60.0, 256.0, 19, ("workload", "eyes"), 4.0),
    Workload("meg", "meg", 10 * 60.0, 500.0, 306, (), 4.0),
)
#: ``--quick``: the same recordings, shorter (development only; not the reported numbers).
QUICK_DURATIONS_S = {"sleep": 16 * 60.0, "clinical": 2 * 60.0, "meg": 60.0}


def default_config(quick: bool = False, **overrides) -> BenchConfig:
    """The full benchmark, or ``--quick`` (short recordings, 2 repeats, no accuracy)."""
    if not quick:
        return BenchConfig(FULL_WORKLOADS, **overrides)
    workloads = tuple(replace(w, duration_s=QUICK_DURATIONS_S[w.name]) for w in FULL_WORKLOADS)
    base = dict(repeats=2, edf_duration_s=300.0, accuracy=False, quick=True, reference_windows=32)
    return BenchConfig(workloads, **{**base, **overrides})


def simulate_workload(workload: Workload, seed: int = 0):
    """The workload's recording, in memory (:class:`brainkit.io.Recording`)."""
    from brainkit.data import simulate
    from brainkit.io import recording_from_raw

    if workload.kind == "sleep":
        raw = simulate.simulate_sleep(workload.duration_s, n_channels=workload.n_channels,
                                      sfreq=workload.sfreq, seed=seed)
    elif workload.kind == "eeg":
        raw = simulate.simulate_eyes(workload.duration_s, n_channels=workload.n_channels,
                                     sfreq=workload.sfreq, seed=seed)
    elif workload.kind == "meg":
        raw = simulate.simulate_meg(workload.duration_s, sfreq=workload.sfreq, seed=seed)
    else:
        raise ValueError(f"unknown workload kind {workload.kind!r}")
    return recording_from_raw(raw, name=f"bench-{workload.name}", fmt="simulated")


#: 32 more 10-10 electrodes that make :data:`brainkit.data.simulate.EEG_32` a 64-channel cap.
EXTRA_32 = ("AF3", "AF4", "F1", "F2", "F5", "F6", "FC3", "FC4", "C1", "C2", "C5", "C6", "CP3",
            "CP4", "P1", "P2", "P5", "P6", "PO3", "PO4", "PO7", "PO8", "FT7", "FT8", "TP7", "TP8",
            "AFz", "FCz", "CPz", "POz", "F9", "F10")


def write_edf(folder: Path, duration_s: float, n_channels: int = 64, sfreq: float = 256.0) -> Path:
    """A simulated EEG of ``n_channels`` (32 or 64) written as EDF+ into ``folder``."""
    import mne

    from brainkit.data import simulate

    raw = simulate.simulate_eyes(duration_s, n_channels=32, sfreq=sfreq, seed=0)
    if n_channels == 64:
        more = simulate.simulate_eyes(duration_s, n_channels=32, sfreq=sfreq, seed=1)
        more.set_montage(None)
        more.rename_channels(dict(zip(more.ch_names, EXTRA_32)))
        more.set_annotations(None)
        raw.add_channels([more], force_update_info=True)
    elif n_channels != 32:
        raise ValueError("n_channels must be 32 or 64")
    path = Path(folder) / f"bench_{n_channels}ch.edf"
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose=False)
    return path


# ------------------------------------------------------------------------------------ model


def model_source(checkpoint=None, lm_path=None, workdir: Path | None = None):
    """The checkpoint folder to load, and which decoder it holds.

    When the checkpoint has no ``decoder/`` yet, a decoder of the shipped architecture with
    random weights is saved beside a copy of its tokenizer in ``workdir`` and loaded from there
    (through the same public path): timing does not depend on the weights.

    Returns
    -------
    folder : Path or None
        None for the shipped checkpoint.
    decoder : str
        ``"shipped"``, ``"checkpoint <dir>"`` or ``"untrained, same architecture"``.
    """
    from brainkit.models.checkpoint import DEFAULT_CHECKPOINT

    root = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    if (root / "decoder" / "config.json").is_file():
        return checkpoint, ("shipped" if checkpoint is None else f"checkpoint {checkpoint}")
    if workdir is None:
        raise ValueError("workdir is needed to build an untrained decoder")
    return untrained_checkpoint(root, Path(workdir) / "checkpoint", lm_path), "untrained, same architecture"


def untrained_checkpoint(root: Path, out: Path, lm_path=None) -> Path:
    """``out`` holding ``root``'s tokenizer and a random decoder configured as training does."""
    from transformers import AutoConfig

    from brainkit.models.checkpoint import load_tokenizer_model
    from brainkit.models.decoder import BrainDecoder, BrainDecoderConfig
    from brainkit.models.llm import default_model_dir

    tokenizer = load_tokenizer_model(root)
    lm_config = AutoConfig.from_pretrained(lm_path or default_model_dir(), local_files_only=True)
    config = BrainDecoderConfig(lm_hidden=lm_config.hidden_size,
                                latent_dim=tokenizer.config.d_model,
                                n_sources=tokenizer.config.n_sources)  # as train_decoder.train
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        decoder = BrainDecoder(config)
    shutil.copytree(root / "tokenizer", out / "tokenizer", dirs_exist_ok=True)
    decoder.save_pretrained(out / "decoder")
    return out
