"""Nihon Kohden recordings (``.EEG`` with its ``.21E``, ``.PNT`` and ``.LOG`` companions), and how a
``.eeg`` file is told apart from BrainVision's data part.

Both formats name their data file ``.eeg``. A Nihon Kohden ``.EEG`` starts with the device and
version string that MNE's reader (``mne.io.read_raw_nihon``) accepts (e.g. ``EEG-1200A V01.00``);
anything else is taken for the data part of a BrainVision recording, read through its header
(``.vhdr``) when that is beside it. The header is checked against the file size before MNE reads
a sample: MNE reads a truncated set without noticing.
"""

from __future__ import annotations

import struct
from pathlib import Path

from brainkit.errors import BrainkitError
from brainkit.io.limits import Limits, check_limits

#: the first 16 bytes of a Nihon Kohden ``.EEG`` (and ``.PNT``, ``.LOG``) that MNE reads
NIHON_VERSIONS = (
    "EEG-1100A V01.00", "EEG-1100B V01.00", "EEG-1100C V01.00", "QI-403A   V01.00",
    "QI-403A   V02.00", "EEG-2100  V01.00", "EEG-2100  V02.00", "DAE-2100D V01.30",
    "DAE-2100D V02.00", "EEG-1200A V01.00",
)
#: the companions of a Nihon Kohden ``.EEG``: channel names, start date, events
NIHON_COMPANIONS = {".21E": "channel names", ".PNT": "start date", ".LOG": "events"}


def nihon_version(path: Path) -> str | None:
    """The Nihon Kohden device and version string a file starts with, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    text = head.decode("ascii", "replace")
    return text if text in NIHON_VERSIONS else None


def brainvision_header(path: Path) -> Path | None:
    """The BrainVision header (``.vhdr``/``.ahdr``) of the same name beside a ``.eeg``, or None."""
    for candidate in sorted(path.parent.iterdir()) if path.parent.is_dir() else ():
        if candidate.stem == path.stem and candidate.suffix.lower() in (".vhdr", ".ahdr"):
            return candidate
    return None


def is_data_part(path: Path) -> bool:
    """True for a ``.eeg`` that is not Nihon Kohden: BrainVision's data, read through its header."""
    return path.suffix.lower() == ".eeg" and path.is_file() and nihon_version(path) is None


def _companion(path: Path, ext: str) -> Path | None:
    for candidate in (path.with_suffix(ext), path.with_suffix(ext.lower())):
        if candidate.is_file():
            return candidate
    return None


def check_nihon(path: Path, limits: Limits, warnings: list[str]) -> None:
    """Check a Nihon Kohden ``.EEG`` header (one control block, its data blocks) against the file.

    Raises
    ------
    BrainkitError
        A header that points outside the file, more than one control block (MNE reads one), a
        size over ``limits``, or data blocks that end past the end of the file (truncated).
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        data = f.read(min(size, 1 << 22))

    def number(fmt: str, at: int):
        if at + struct.calcsize(fmt) > len(data):
            raise BrainkitError(f"{path.name}: Nihon Kohden header points past the end of the file "
                                f"({size} bytes); it is truncated or damaged")
        return struct.unpack_from("<" + fmt, data, at)[0]

    if len(data) < 0x1800 or data[0x17FE] != 1:
        raise BrainkitError(f"{path.name}: not a complete Nihon Kohden EEG file (no waveform block)")
    if number("B", 0x91) != 1:
        raise BrainkitError(f"{path.name}: {number('B', 0x91)} control blocks; brainkit (through MNE) "
                            "reads Nihon Kohden files with exactly one")
    control = number("I", 0x92)
    end, n_samples = 0, 0
    for i in range(number("B", control + 17)):
        block = number("I", control + 18 + 20 * i)
        n_channels = number("B", block + 0x26)
        rate = number("H", block + 0x1A) & 0x3FFF
        samples = number("I", block + 0x1C) * rate // 10
        check_limits(n_channels, rate or 1.0, n_samples + samples, limits)
        n_samples += samples
        end = max(end, block + 0x27 + 10 * n_channels + 2 * (n_channels + 1) * samples)
    if end > size:
        raise BrainkitError(f"{path.name} is truncated: its Nihon Kohden header needs {end} bytes, "
                            f"the file holds {size}")
    for ext, what in NIHON_COMPANIONS.items():
        if _companion(path, ext) is None:
            warnings.append(f"no {path.stem}{ext} beside the Nihon Kohden file: {what} unknown"
                            + (" (MNE's default channel names used)" if ext == ".21E" else ""))


def read_nihon(path: Path):
    """Open a checked Nihon Kohden ``.EEG`` with MNE, not yet loaded."""
    import mne

    return mne.io.read_raw_nihon(path, preload=False, verbose="error")


def missing_header(path: Path) -> BrainkitError:
    """The error for a ``.eeg`` that is neither Nihon Kohden nor beside a BrainVision header."""
    return BrainkitError(f"{path.name} is neither a Nihon Kohden EEG file (its first bytes are not a "
                         "Nihon Kohden device string) nor the data of a BrainVision recording with "
                         f"its {path.stem}.vhdr beside it")
