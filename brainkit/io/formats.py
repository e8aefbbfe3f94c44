"""Readers for the recordings MNE has no reader for.

Each reader takes a path and returns ``(raw, warnings)`` where ``raw`` is an MNE ``RawArray`` in
volts and ``warnings`` a list of one-line notes on what was assumed. Formats:

- CSV / TSV exports of consumer headsets (Muse, OpenBCI, Emotiv, ...): channel columns, a
  timestamp column from which the rate is derived (or an explicit ``sfreq``), and marker columns
  whose non-zero values become annotations at their row's time.
- Single-column text (one value per line, optional ``[name]`` header), which needs ``sfreq``.
- XDF (Lab Streaming Layer) through ``pyxdf``: the numeric stream with most channels, marker
  streams as annotations.
- NumPy ``.npz`` archives with ``data`` (C, T), a rate (``sf``/``sfreq``) and optional channel
  names (``chan``/``ch_names``), loaded without pickle.
- Epoched EEGLAB ``.set`` files, joined end to end into one continuous recording.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from brainkit.errors import BrainkitError

#: how a reader of a file without a sampling rate is given one (the end of its error)
GIVE_RATE = "give the sampling rate (a manifest's sfreq column, --sfreq on the command line, or sfreq=...)"
_TIME_COLUMN = re.compile(r"^(timestamps?|time|times|time_?s|time_?ms|t|sample_?time|unix_?time)$",
                          re.IGNORECASE)
_MARKER_COLUMN = re.compile(r"marker|event|trigger|stim", re.IGNORECASE)
#: a rate written into a file's name (``..._200Hz.txt``): named in the error, never assumed
_RATE_IN_NAME = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*hz(?![a-z])", re.IGNORECASE)
_PEEK_LINES = 6  #: lines of a single-column text file read to tell numbers from prose
_STANDARD_RATES = (100, 125, 128, 160, 200, 250, 256, 300, 500, 512, 1000, 1024, 2000, 2048,
                   4000, 4096, 5000, 8192, 10000)


def _to_volts(data: np.ndarray, what: str, warnings: list[str]) -> np.ndarray:
    """Scale exported values to volts: microvolts unless they already look like volts."""
    finite = np.abs(data[np.isfinite(data)])
    if finite.size and np.percentile(finite, 99) < 1e-2:
        warnings.append(f"{what}: values are below 0.01, so they are taken as volts")
        return data
    return data * 1e-6


def _snap_rate(rate: float) -> float:
    for standard in _STANDARD_RATES:
        if abs(rate - standard) / standard < 0.01:
            return float(standard)
    return float(rate)


def rate_from_timestamps(t: np.ndarray, warnings: list[str]) -> float:
    """Sampling rate (Hz) from a timestamp column in seconds or milliseconds."""
    t = np.asarray(t, dtype=np.float64)
    t = t[np.isfinite(t)]
    if t.size < 2 or t[-1] <= t[0]:
        raise BrainkitError(f"the timestamp column does not increase: {GIVE_RATE}")
    rate = (t.size - 1) / (t[-1] - t[0])
    if rate < 1.0:  # timestamps in milliseconds
        rate *= 1000.0
    snapped = _snap_rate(rate)
    dt = np.diff(t)
    step = np.median(dt)
    gaps = int(np.sum(dt > 3 * step))
    if gaps:
        warnings.append(f"timestamps have {gaps} gap(s) longer than 3 samples; samples are treated "
                        "as evenly spaced")
    if snapped == rate and rate >= 1.0:
        warnings.append(f"sampling rate derived from timestamps: {rate:.3f} Hz")
    return snapped


def _sniff_separator(first_line: str) -> str | None:
    counts = {sep: first_line.count(sep) for sep in ("\t", ",", ";")}
    sep, n = max(counts.items(), key=lambda kv: kv[1])
    return sep if n else None


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def read_table(path: Path, sfreq: float | None = None):
    """Read a CSV/TSV/TXT export; see the module docstring. Returns ``(raw, warnings)``."""
    import mne
    import pandas as pd

    warnings: list[str] = []
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        first = f.readline().strip("\ufeff\r\n")
        while first.strip() == "" and f:
            line = f.readline()
            if not line:
                break
            first = line.strip("\ufeff\r\n")
    if not first.strip():
        raise BrainkitError(f"{path.name} is empty: no rows to read")
    sep = _sniff_separator(first)
    if sep is None:
        return read_single_column(path, sfreq)
    header_cells = [c.strip().strip('"') for c in first.split(sep)]
    has_header = not all(_is_number(c) for c in header_cells if c)
    try:
        table = pd.read_csv(path, sep=sep, header=0 if has_header else None, engine="c",
                            skipinitialspace=True, low_memory=False, encoding_errors="replace")
    except Exception as err:  # pandas raises several types for malformed text
        raise BrainkitError(f"{path.name} is not a readable table: {err}") from None
    if not has_header:
        table.columns = [f"ch{i + 1}" for i in range(table.shape[1])]
    table.columns = [str(c).strip() for c in table.columns]
    if table.shape[0] < 2:
        raise BrainkitError(f"{path.name} holds {table.shape[0]} data row(s): a recording needs more")

    time_cols = [c for c in table.columns if _TIME_COLUMN.match(c)]
    marker_cols = [c for c in table.columns if _MARKER_COLUMN.search(c)]
    channel_cols, dropped = [], []
    for col in table.columns:
        if col in time_cols or col in marker_cols:
            continue
        values = pd.to_numeric(table[col], errors="coerce")
        if values.notna().mean() > 0.9:
            channel_cols.append(col)
        else:
            dropped.append(col)
    if dropped:
        warnings.append(f"non-numeric column(s) ignored: {', '.join(dropped[:6])}")
    if not channel_cols:
        raise BrainkitError(f"{path.name} has no numeric channel columns")

    if sfreq is None:
        if not time_cols:
            raise rate_needed(path, "has no timestamp column")
        sfreq = rate_from_timestamps(pd.to_numeric(table[time_cols[0]], errors="coerce").to_numpy(),
                                     warnings)
    data = table[channel_cols].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64).T
    data = _to_volts(data, path.name, warnings)
    info = mne.create_info(channel_cols, float(sfreq), "eeg")
    raw = mne.io.RawArray(data, info, verbose="error")

    onsets, descriptions = [], []
    for col in marker_cols:
        values = table[col]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().mean() > 0.5:
            rows = np.flatnonzero(numeric.fillna(0).to_numpy() != 0)
            labels = [f"{v:g}" for v in numeric.to_numpy()[rows]]
        else:
            text = values.fillna("").astype(str).str.strip()
            rows = np.flatnonzero((text != "") & (text != "0"))
            labels = list(text.to_numpy()[rows])
        onsets.extend(rows / sfreq)
        descriptions.extend(labels if len(marker_cols) == 1 else [f"{col}/{x}" for x in labels])
    if onsets:
        raw.set_annotations(mne.Annotations(onsets, [0.0] * len(onsets), descriptions))
    return raw, warnings


def rate_in_name(name: str) -> float | None:
    """A sampling rate written into a file's name (``data_N2_200Hz.txt`` -> 200.0), or None: named
    to the user and offered, never assumed."""
    said = _RATE_IN_NAME.search(Path(name).name)
    rate = float(said.group(1)) if said else 0.0
    return rate if rate > 0 else None


def rate_needed(path: Path, why: str) -> BrainkitError:
    """The error of a file read without a sampling rate: ``why``, the rate its name gives if it
    gives one, and how to give it (:data:`GIVE_RATE`, which the Upload page looks for)."""
    said = rate_in_name(path.name)
    hint = f" (its name says {said:g} Hz)" if said else ""
    return BrainkitError(f"{path.name} {why}{hint}: {GIVE_RATE}")


def read_single_column(path: Path, sfreq: float | None = None):
    """One value per line, optional bracketed or plain-text name on the first line."""
    import mne

    warnings: list[str] = []
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for _, line in zip(range(_PEEK_LINES), f)]
    lines = [line for line in lines if line]
    first = lines[0] if lines else ""
    name, skip = "EEG", 0
    if first and not _is_number(first):
        name, skip = first.strip("[]# ").strip() or "EEG", 1
    body = lines[skip:]
    if (any(len(line.split()) > 1 for line in body)
            and all(_is_number(cell) for line in body for cell in line.split())):
        raise BrainkitError(f"{path.name} holds columns separated by spaces: separate them with commas "
                            "or tabs, under a header that names the channels")
    if not body or not all(_is_number(line) for line in body):
        raise BrainkitError(f"{path.name} holds text, not samples: a text recording has one number per "
                            "line (after an optional name) or numeric columns with a header")
    if sfreq is None:
        raise rate_needed(path, "is single-column text, which carries no sampling rate")
    try:
        values = np.loadtxt(path, skiprows=skip, dtype=np.float64, ndmin=1)
    except ValueError as err:
        raise BrainkitError(f"{path.name} is not one number per line: {err}") from None
    if values.ndim != 1 or values.size < 2:
        raise BrainkitError(f"{path.name} does not hold a single column of at least 2 values")
    data = _to_volts(values[None, :], path.name, warnings)
    raw = mne.io.RawArray(data, mne.create_info([name], float(sfreq), "eeg"), verbose="error")
    return raw, warnings


def read_npz(path: Path, sfreq: float | None = None):
    """``.npz`` with ``data`` (C, T), a rate and optional names; never unpickles."""
    import mne

    warnings: list[str] = []
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except ValueError as err:
        raise BrainkitError(f"{path.name} is not a plain NumPy archive ({err})") from None
    data = arrays.get("data")
    if data is None or data.ndim not in (1, 2) or data.dtype.kind not in "biuf":
        raise BrainkitError(f"{path.name} needs a real-valued array 'data' of shape (channels, samples)")
    data = np.atleast_2d(data).astype(np.float64)
    rate = sfreq or _npz_rate(arrays, path)
    if rate is None:
        raise rate_needed(path, "has no rate ('sf' or 'sfreq')")
    names = arrays.get("chan", arrays.get("ch_names"))
    names = [str(n) for n in names] if names is not None else [f"ch{i + 1}" for i in range(len(data))]
    if len(names) != len(data):
        raise BrainkitError(f"{path.name}: {len(names)} channel names for {len(data)} rows of data")
    data = _to_volts(data, path.name, warnings)
    return mne.io.RawArray(data, mne.create_info(names, rate, "eeg"), verbose="error"), warnings


def _npz_rate(arrays: dict, path: Path) -> float | None:
    """The sampling rate stored in an ``.npz`` (``sf``, ``sfreq`` or ``fs``), checked to be one number."""
    for key in ("sf", "sfreq", "fs"):
        if key in arrays:
            value = arrays[key]
            if value.size != 1 or value.dtype.kind not in "iuf":
                raise BrainkitError(f"{path.name}: '{key}' must be one number, the sampling rate in Hz")
            return float(value.ravel()[0])
    return None


def read_xdf(path: Path, sfreq: float | None = None):
    """Lab Streaming Layer ``.xdf``: the numeric stream with most channels plus marker streams."""
    import mne
    import pyxdf

    warnings: list[str] = []
    try:
        streams, _ = pyxdf.load_xdf(str(path))
    except Exception as err:  # pyxdf raises bare Exceptions on damaged files
        detail = str(err).replace(str(path), path.name)
        raise BrainkitError(f"{path.name} is not a readable XDF file: {detail}") from None
    numeric = [s for s in streams if isinstance(s["time_series"], np.ndarray)
               and np.issubdtype(s["time_series"].dtype, np.number) and s["time_series"].ndim == 2
               and len(s["time_series"]) > 1]
    if not numeric:
        raise BrainkitError(f"{path.name} holds no numeric signal stream")
    stream = max(numeric, key=lambda s: s["time_series"].shape[1])
    if len(numeric) > 1:
        warnings.append(f"XDF file holds {len(numeric)} signal streams; read the one with most channels")
    nominal = float(stream["info"]["nominal_srate"][0])
    rate = sfreq or (nominal if nominal > 0 else rate_from_timestamps(stream["time_stamps"], warnings))
    n_chan = stream["time_series"].shape[1]
    names = []
    try:
        for ch in stream["info"]["desc"][0]["channels"][0]["channel"]:
            names.append(ch["label"][0])
    except (KeyError, IndexError, TypeError):
        pass
    if len(names) != n_chan or len(set(names)) != n_chan:
        names = [f"ch{i + 1}" for i in range(n_chan)]
    data = _to_volts(stream["time_series"].T.astype(np.float64), path.name, warnings)
    raw = mne.io.RawArray(data, mne.create_info(names, rate, "eeg"), verbose="error")
    t0 = stream["time_stamps"][0]
    onsets, labels = [], []
    for s in streams:
        if any(s is other for other in numeric):
            continue
        for stamp, value in zip(s["time_stamps"], s["time_series"]):
            if stamp >= t0:
                onsets.append(stamp - t0)
                labels.append(str(value[0] if isinstance(value, (list, np.ndarray)) else value))
    if onsets:
        raw.set_annotations(mne.Annotations(onsets, [0.0] * len(onsets), labels))
    return raw, warnings


def read_eeglab_epochs(path: Path, sfreq: float | None = None):
    """An epoched EEGLAB ``.set``: epochs joined end to end, each boundary an annotation."""
    import mne

    epochs = mne.read_epochs_eeglab(str(path), verbose="error")
    data = epochs.get_data(copy=False)  # (n_epochs, C, T)
    n_epochs, n_chan, n_times = data.shape
    raw = mne.io.RawArray(np.concatenate(list(data), axis=1), epochs.info, verbose="error")
    length = n_times / epochs.info["sfreq"]
    onsets = np.arange(n_epochs) * length
    raw.set_annotations(mne.Annotations(onsets, [0.0] * n_epochs, ["epoch"] * n_epochs))
    warning = (f"epoched file: {n_epochs} epochs of {length:.2f} s joined end to end "
               "(each start marked by an 'epoch' annotation)")
    return raw, [warning]


def read_neuroscan_blocks(path: Path, sfreq: float | None = None):
    """Fallback for Neuroscan CNT files MNE rejects: 16-bit samples in channel blocks.

    The header gives the channel count (byte 370), the rate (376), the event-table offset (886)
    and the block length in bytes (894); each 75-byte channel record gives the label (0-9),
    baseline (47), sensitivity (59) and calibration (71). Samples become microvolts as
    ``(raw - baseline) * sensitivity * calibration / 204.8``. A trailing partial block is dropped.
    """
    import struct

    import mne

    with open(path, "rb") as f:
        header = f.read(900)
        if len(header) < 900:
            raise BrainkitError(f"{path.name} is too short for a Neuroscan CNT header")
        n_chan = struct.unpack("<H", header[370:372])[0]
        rate = float(sfreq or struct.unpack("<H", header[376:378])[0])
        event_table = struct.unpack("<i", header[886:890])[0]
        block_bytes = struct.unpack("<i", header[894:898])[0]
        records = f.read(75 * n_chan)
        if n_chan == 0 or len(records) < 75 * n_chan or rate <= 0:
            raise BrainkitError(f"{path.name}: Neuroscan header is inconsistent")
        raw_bytes = f.read(max(event_table - 900 - 75 * n_chan, 0))
    names, scale, baseline = [], [], []
    for i in range(n_chan):
        rec = records[75 * i: 75 * (i + 1)]
        names.append(rec[:10].split(b"\x00")[0].decode("latin-1").strip() or f"ch{i + 1}")
        baseline.append(struct.unpack("<h", rec[47:49])[0])
        sensitivity, calibration = struct.unpack("<f", rec[59:63])[0], struct.unpack("<f", rec[71:75])[0]
        scale.append(sensitivity * calibration / 204.8)
    block = max(block_bytes // 2, 1)  # samples per channel per block
    values = np.frombuffer(raw_bytes[: len(raw_bytes) // 2 * 2], dtype="<i2")
    n_blocks = values.size // (block * n_chan)
    if n_blocks == 0:
        raise BrainkitError(f"{path.name} holds no complete block of samples")
    data = values[: n_blocks * block * n_chan].reshape(n_blocks, n_chan, block)  # (B, C, S)
    data = data.transpose(1, 0, 2).reshape(n_chan, -1).astype(np.float64)  # (C, B*S)
    data = (data - np.array(baseline)[:, None]) * np.array(scale)[:, None] * 1e-6
    raw = mne.io.RawArray(data, mne.create_info(names, rate, "eeg"), verbose="error")
    note = "read with brainkit's fallback Neuroscan reader (MNE could not parse the file)"
    return raw, [note]
