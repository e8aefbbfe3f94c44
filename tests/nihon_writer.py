"""A minimal Nihon Kohden writer, for tests only: ``.EEG`` + ``.21E`` + ``.PNT`` + ``.LOG``.

Written from the layout MNE's reader (``mne/io/nihon/nihon.py``) reads: a 16-byte device string,
one control block pointing to one data block (rate, duration in tenths of a second, channel
indices into the ``.21E`` electrode table), then the samples multiplexed as 16-bit words, one
extra (mark) word per sample. EEG electrodes are in steps of 6399.902 / 65535 µV.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

VERSION = b"EEG-1200A V01.00"
_CONTROL, _DATA, _LOG = 0x1900, 0x1A00, 0x400
_CAL = (3199.902 + 3200) / 65535  # µV per step (MNE's EEG electrode range)
_OFFSET = -3200 + 32768 * _CAL


def write_nihon(path, data_v: np.ndarray, sfreq: int, names, *, events=(),
                date: str = "20000101120000", companions=(".21E", ".PNT", ".LOG")) -> Path:
    """Write ``data_v`` (n_channels, n_times) in volts as a Nihon Kohden set; returns the ``.EEG``.

    ``n_times / sfreq`` must be a whole number of tenths of a second; ``events`` are
    ``(onset_s, text)`` with whole seconds (the LOG keeps HHMMSS).
    """
    path = Path(path).with_suffix(".EEG")
    n_channels, n_times = data_v.shape
    tenths = n_times * 10 // sfreq
    assert tenths * sfreq == n_times * 10, "duration must be a whole number of tenths of a second"
    head = bytearray(_DATA + 0x27 + 10 * n_channels)
    head[0:16] = VERSION
    head[0x81:0x91] = VERSION
    head[0x91] = 1  # one control block
    struct.pack_into("<I", head, 0x92, _CONTROL)
    head[0x17FE] = 1  # waveform block
    head[_CONTROL + 1:_CONTROL + 17] = VERSION
    head[_CONTROL + 17] = 1  # one data block
    struct.pack_into("<I", head, _CONTROL + 18, _DATA)
    struct.pack_into("<H", head, _DATA + 0x1A, sfreq)
    struct.pack_into("<I", head, _DATA + 0x1C, tenths)
    head[_DATA + 0x26] = n_channels
    for i in range(n_channels):
        head[_DATA + 0x27 + 10 * i] = i  # electrode code i of the .21E
    steps = np.round((data_v * 1e6 - _OFFSET) / _CAL).clip(-32768, 32767).astype(np.int16)
    words = np.zeros((n_times, n_channels + 1), np.uint16)
    words[:, :n_channels] = (steps.T.astype(np.int32) + 0x8000) % 0x10000
    path.write_bytes(bytes(head) + words.astype("<u2").tobytes())
    if ".21E" in companions:
        lines = ["[ELECTRODE]"] + [f"{i:04d}={name}" for i, name in enumerate(names)] + ["[REFERENCE]"]
        path.with_suffix(".21E").write_text("\r\n".join(lines) + "\r\n")
    if ".PNT" in companions:
        pnt = bytearray(0x60)
        pnt[0:16] = VERSION
        pnt[0x40:0x4E] = date.encode("ascii")
        path.with_suffix(".PNT").write_bytes(bytes(pnt))
    if ".LOG" in companions:
        log = bytearray(_LOG + 0x14 + 45 * len(events))
        log[0:16] = VERSION
        log[0x91] = 1
        struct.pack_into("<I", log, 0x92, _LOG)
        log[_LOG + 1:_LOG + 17] = VERSION
        log[_LOG + 0x12] = len(events)
        for i, (onset, text) in enumerate(events):
            h, rest = divmod(int(onset), 3600)
            entry = text.encode("ascii")[:20].ljust(20, b"\0") + f"{h:02d}{rest // 60:02d}{rest % 60:02d}".encode()
            log[_LOG + 0x14 + 45 * i:_LOG + 0x14 + 45 * i + len(entry)] = entry
        path.with_suffix(".LOG").write_bytes(bytes(log))
    return path
