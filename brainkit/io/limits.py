"""What brainkit accepts: sizes, channel counts, rates and durations, checked before data is loaded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainkit.errors import BrainkitError


@dataclass(frozen=True)
class Limits:
    """What brainkit accepts; each limit is checked from the header before data is loaded."""

    max_bytes: int = 1024 * 1024 * 1024  #: largest file or archive content, bytes (1 GiB)
    max_channels: int = 1024
    max_duration_s: float = 48 * 3600.0
    max_sfreq: float = 30_000.0
    max_samples: int = 400_000_000  #: channels x samples held in memory (3.2 GB as float64)
    max_archive_files: int = 5000


DEFAULT_LIMITS = Limits()


def mib(limits: Limits) -> int:
    """The byte limit in MiB, as the messages say it."""
    return limits.max_bytes // 2**20


def check_size(n_channels: int, n_times: int, limits: Limits) -> None:
    """Refuse more channels, or more channels x samples, than ``limits`` hold in memory."""
    if n_channels > limits.max_channels:
        raise BrainkitError(f"{n_channels} channels is more than the limit of {limits.max_channels}")
    if n_channels * n_times > limits.max_samples:
        raise BrainkitError(f"{n_channels} channels x {n_times} samples is more than the "
                            f"{limits.max_samples:,} samples brainkit holds in memory")


def check_rate(sfreq: float, limits: Limits) -> None:
    """Refuse a sampling rate (Hz) that is not a positive number up to ``limits.max_sfreq``."""
    if not np.isfinite(sfreq) or sfreq <= 0 or sfreq > limits.max_sfreq:
        raise BrainkitError(f"sampling rate {sfreq:g} Hz is outside 0-{limits.max_sfreq:g} Hz")


def check_limits(n_channels: int, sfreq: float, n_times: int, limits: Limits = DEFAULT_LIMITS):
    """Raise a one-line error when a recording is beyond what brainkit accepts.

    Parameters
    ----------
    n_channels : int
        Channels in the recording.
    sfreq : float
        Sampling rate in Hz.
    n_times : int
        Samples per channel.
    limits : Limits
        What is accepted.

    Raises
    ------
    BrainkitError
        Naming the first limit the recording exceeds.
    """
    if n_channels < 1:
        raise BrainkitError("the recording has no channels")
    check_size(n_channels, 0, limits)
    check_rate(sfreq, limits)
    if n_times < 2:
        raise BrainkitError(f"the recording holds {n_times} sample(s): too short to analyse")
    if n_times / sfreq > limits.max_duration_s:
        raise BrainkitError(f"recording lasts {n_times / sfreq / 3600:.1f} h, more than the limit of "
                            f"{limits.max_duration_s / 3600:g} h")
    check_size(n_channels, n_times, limits)
