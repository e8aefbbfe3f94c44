"""BCI2000 ``.dat`` recordings, told apart from the ``.dat`` data part of BrainVision and Curry sets.

A BCI2000 file starts with a text line ``HeaderLen= ... SourceCh= ... StatevectorLen= ...``; any
other ``.dat`` is read through the header beside it (BrainVision ``.vhdr``, Curry ``.dap``/``.cdt``).
MNE's reader (``mne.io.read_raw_bci2k``) gives the raw sample values with names ``EEG1...``; the
file's own ``SourceChGain`` and ``SourceChOffset`` (µV per step) and ``ChannelNames`` are applied
here, so the signal is in volts. The size is checked against the limits before MNE loads it (MNE
reads BCI2000 files whole).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from brainkit.errors import BrainkitError
from brainkit.io.limits import Limits, check_limits

_WIDTH = {"int16": 2, "int32": 4, "float32": 4}
#: headers whose ``.dat`` data part brainkit reads through them
HEADERS = (".vhdr", ".ahdr", ".dap", ".cdt")


def is_bci2000(path: Path) -> bool:
    """True when the file starts with BCI2000's first header line."""
    try:
        with open(path, "rb") as f:
            first = f.readline(512)
    except OSError:
        return False
    return b"HeaderLen=" in first and b"SourceCh=" in first


def header_beside(path: Path) -> Path | None:
    """The header (``.vhdr``, ``.dap``, ...) of the same name beside a data part, or None."""
    for candidate in sorted(path.parent.iterdir()) if path.parent.is_dir() else ():
        if candidate.stem == path.stem and candidate.suffix.lower() in HEADERS:
            return candidate
    return None


def is_data_part(path: Path) -> bool:
    """True for a ``.dat`` that is not BCI2000 (the data of a BrainVision or Curry set)."""
    return path.suffix.lower() == ".dat" and path.is_file() and not is_bci2000(path)


def _parameters(text: str) -> dict:
    """``name -> [values]`` of the header's parameter lines (``... type Name= values // comment``)."""
    out = {}
    for line in text.splitlines():
        match = re.match(r"^\S+\s+\S+\s+(\w+)=\s*(.*?)(?:\s*//.*)?$", line.strip())
        if match:
            out[match.group(1)] = match.group(2).split()
    return out


def _list(values: list, n: int, what: str, path: Path) -> list:
    """A BCI2000 list value: a count, then the items (``4 Fz Cz Pz Oz``)."""
    try:
        count = int(values[0])
    except (ValueError, IndexError):
        raise BrainkitError(f"{path.name}: BCI2000 {what} is not a list") from None
    if count != n or len(values) < n + 1:
        raise BrainkitError(f"{path.name}: BCI2000 {what} lists {count} channels, the file has {n}")
    return values[1:n + 1]


def read_bci2000(path: Path, limits: Limits, warnings: list[str]):
    """Read a BCI2000 ``.dat`` into a loaded Raw in volts (gains, offsets and names applied)."""
    import mne

    size = path.stat().st_size
    with open(path, "rb") as f:
        first = f.readline(512).decode("latin-1")
    fields = dict(re.findall(r"(\w+)\s*=\s*(\S+)", first))
    try:
        header_len, n_channels = int(fields["HeaderLen"]), int(fields["SourceCh"])
        state_len = int(fields["StatevectorLen"])
    except (KeyError, ValueError):
        raise BrainkitError(f"{path.name}: BCI2000 first line lacks HeaderLen, SourceCh or "
                            "StatevectorLen") from None
    width = _WIDTH.get(fields.get("DataFormat", "int16"))
    if width is None or not 0 < header_len <= min(size, 1 << 24) or n_channels < 1:
        raise BrainkitError(f"{path.name}: BCI2000 header is inconsistent (HeaderLen {header_len}, "
                            f"SourceCh {n_channels}, DataFormat {fields.get('DataFormat')})")
    with open(path, "rb") as f:
        text = f.read(header_len).decode("latin-1")
    params = _parameters(text)
    rate = re.match(r"[\d.]+", (params.get("SamplingRate") or [""])[0])
    if rate is None:
        raise BrainkitError(f"{path.name}: BCI2000 header has no SamplingRate")
    frame = n_channels * width + state_len
    n_times = (size - header_len) // frame
    check_limits(n_channels, float(rate.group(0)), n_times, limits)
    if (size - header_len) % frame:
        warnings.append(f"file is truncated: {(size - header_len) % frame} bytes after the last "
                        "complete sample")
    raw = mne.io.read_raw_bci2k(path, preload=True, verbose="error")
    eeg = mne.pick_types(raw.info, eeg=True)
    gain = np.asarray(_list(params["SourceChGain"], n_channels, "SourceChGain", path), float) \
        if "SourceChGain" in params else np.ones(n_channels)
    offset = np.asarray(_list(params["SourceChOffset"], n_channels, "SourceChOffset", path), float) \
        if "SourceChOffset" in params else np.zeros(n_channels)
    if "SourceChGain" not in params:
        warnings.append("no SourceChGain in the BCI2000 header: samples read as microvolts")
    raw._data[eeg] = (raw._data[eeg] - offset[:, None]) * gain[:, None] * 1e-6
    if "ChannelNames" in params:
        names = _list(params["ChannelNames"], n_channels, "ChannelNames", path)
        raw.rename_channels(dict(zip([raw.ch_names[i] for i in eeg], names)))
    return raw


def missing_header(path: Path) -> BrainkitError:
    return BrainkitError(f"{path.name} is neither a BCI2000 file (no HeaderLen line) nor the data of a "
                         f"BrainVision or Curry recording with its header ({path.stem}.vhdr, "
                         f"{path.stem}.dap) beside it")
