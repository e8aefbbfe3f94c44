"""One dispatch table from file extension to reader (:data:`READERS`), and the readers.

Each :class:`Reader` names its format, may check the file's header before anything is read
(``precheck``), and reads the file into a loaded MNE ``Raw`` whose size has been checked against
:class:`~brainkit.io.limits.Limits` before its data was allocated. MNE reads most formats; the
hand-written readers of :mod:`brainkit.io.formats` read the rest.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainkit._logging import logger
from brainkit.errors import BrainkitError
from brainkit.io import bci2000, formats, nihon
from brainkit.io.limits import Limits, check_limits, check_rate, check_size, mib

#: extensions of more than one dot, checked before ``Path.suffix``
_DOUBLE_SUFFIXES = (".fif.gz", ".tsv.gz")
#: recordings stored as a folder
FOLDER_FORMATS = (".mff", ".ds")


@dataclass(frozen=True)
class Reader:
    """How the files of one extension are read.

    Attributes
    ----------
    format : str
        The format's name (``Recording.format`` unless the reader refines it, e.g. ``EDF+``).
    read : callable
        ``read(path, sfreq, limits, warnings) -> (raw, format)``: a loaded MNE ``Raw`` within
        ``limits``, and the format's name when the file refines it (else None); ``sfreq`` (Hz or
        None) is for exports that carry no rate; notes on what was assumed go to ``warnings``.
    precheck : callable or None
        ``precheck(path, limits)``: header checks before the reader opens the file.
    """

    format: str
    read: Callable
    precheck: Callable | None = None


def suffix(path: Path) -> str:
    """The extension that selects the reader, lower case (``.fif.gz`` and ``.tsv.gz`` whole)."""
    name = path.name.lower()
    for ext in _DOUBLE_SUFFIXES:
        if name.endswith(ext):
            return ext
    return path.suffix.lower()


def supported_formats() -> str:
    """Comma-separated list of the extensions brainkit reads."""
    return ", ".join(sorted(READERS)) + ", .zip of any of these, .gz of text exports"


def read_file(path: Path, sfreq: float | None, limits: Limits, warnings: list[str]):
    """Read one recording's entry point with the reader its extension selects.

    Returns
    -------
    raw : mne.io.BaseRaw
        Loaded, within ``limits``; not yet cleaned or de-identified.
    format : str
        The format's name.
    """
    ext = suffix(path)
    if ext not in READERS:
        raise BrainkitError(f"{path.name}: unknown format {ext or '(no extension)'}; supported: "
                            f"{supported_formats()}")
    if path.is_file() and path.stat().st_size == 0:
        raise BrainkitError(f"{path.name} is empty (0 bytes)")
    reader = READERS[ext]
    if reader.precheck is not None:
        reader.precheck(path, limits)
    raw, fmt = reader.read(path, sfreq, limits, warnings)
    return raw, fmt or reader.format


# ------------------------------------------------------------------------- header prechecks


def _edf_header(path: Path) -> dict:
    """Check an EDF/BDF header against the file size before any data is allocated."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(256)
        if len(head) < 256:
            raise BrainkitError(f"{path.name} is too short to be EDF/BDF ({size} bytes)")
        try:
            header_bytes = int(head[184:192].decode("ascii").strip())
            n_records = int(head[236:244].decode("ascii").strip())
            record_s = float(head[244:252].decode("ascii").strip())
            n_signals = int(head[252:256].decode("ascii").strip())
        except ValueError:
            raise BrainkitError(f"{path.name} does not have a valid EDF/BDF header") from None
        if not 0 < n_signals <= 100_000 or header_bytes != 256 * (n_signals + 1):
            raise BrainkitError(f"{path.name}: EDF header is inconsistent ({n_signals} signals, "
                                f"{header_bytes}-byte header)")
        if size < header_bytes:
            raise BrainkitError(f"{path.name} is truncated inside its header")
        f.seek(256 + n_signals * 104)
        ranges = f.read(32 * n_signals)  # physical min, max, digital min, max: 8 bytes each
        f.seek(256 + n_signals * 216)
        try:
            samples = [int(f.read(8).decode("ascii").strip()) for _ in range(n_signals)]
            [float(ranges[i:i + 8].decode("ascii")) for i in range(0, len(ranges), 8)]
        except ValueError:
            raise BrainkitError(f"{path.name}: EDF samples-per-record or signal range field is not a "
                                "number") from None
        if min(samples) < 1:
            raise BrainkitError(f"{path.name}: EDF header gives {min(samples)} samples per record for "
                                "a signal; every signal needs at least 1")
    width = 3 if head[0:1] == b"\xff" else 2
    record_bytes = sum(samples) * width
    kind = head[192:197].decode("ascii", "replace")
    held = (size - header_bytes) // record_bytes if record_bytes else 0
    return {"n_signals": n_signals, "n_records": n_records, "record_s": record_s, "samples": samples,
            "held_records": held, "plus": kind.startswith(("EDF+", "BDF+")), "bdf": width == 3}


def _check_edf(path: Path, limits: Limits, warnings: list[str]) -> str:
    """Check an EDF/BDF header; returns ``EDF``, ``EDF+``, ``BDF`` or ``BDF+``."""
    header = _edf_header(path)
    if not np.isfinite(header["record_s"]) or header["record_s"] <= 0:
        raise BrainkitError(f"{path.name}: EDF record duration {header['record_s']} s is not a positive "
                            "number")
    check_size(header["n_signals"], 0, limits)
    check_rate(max(header["samples"]) / header["record_s"], limits)
    if header["n_records"] > 0 and header["held_records"] < header["n_records"]:
        warnings.append(f"file is truncated: header promises {header['n_records']} data records, "
                        f"the file holds {header['held_records']}; the rest is missing")
    if header["held_records"] == 0:
        raise BrainkitError(f"{path.name} holds no complete data record")
    return ("BDF" if header["bdf"] else "EDF") + ("+" if header["plus"] else "")


def _header_value(text: str, key: str) -> str | None:
    match = re.search(rf"^\s*{key}\s*=\s*(.*?)\s*$", text, re.M | re.I)
    return match.group(1) if match else None


def _check_brainvision(path: Path, limits: Limits) -> None:
    """The files a BrainVision header names must be plain names beside it; the data file must be there."""
    with open(path, "rb") as f:
        text = f.read(1 << 20).decode("latin-1")
    n_channels, interval = _header_value(text, "NumberOfChannels"), _header_value(text, "SamplingInterval")
    try:
        n_channels = int(n_channels) if n_channels is not None else None
        interval = float(interval) if interval is not None else None
    except ValueError:
        raise BrainkitError(f"{path.name}: NumberOfChannels and SamplingInterval must be numbers") from None
    if n_channels is not None and n_channels < 1:
        raise BrainkitError(f"{path.name}: NumberOfChannels is {n_channels}; a recording needs at least 1")
    if n_channels is not None:
        check_size(n_channels, 0, limits)
    if interval is not None and not (np.isfinite(interval) and interval > 0):
        raise BrainkitError(f"{path.name}: SamplingInterval {interval} µs is not a positive number")
    if interval is not None:
        check_rate(1e6 / interval, limits)
    for key in ("DataFile", "MarkerFile"):
        value = _header_value(text, key)
        if value is None:
            continue
        if value in ("", ".", "..") or Path(value.replace("\\", "/")).name != value:
            raise BrainkitError(f"{path.name} names its {key} {value!r}, which is not a file beside it; "
                                "refused")
        if key == "DataFile" and not (path.parent / value).is_file():
            raise BrainkitError(f"{path.name} needs its data file {value}, which is missing: give the .vhdr, "
                                ".vmrk and .eeg together (or zip them)")


def _check_table(path: Path, limits: Limits) -> None:
    """Refuse a table with far more columns than channels allowed, before parsing it."""
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        first = f.readline(1 << 22).strip("\ufeff\r\n")
    sep = formats._sniff_separator(first)
    n_columns = first.count(sep) + 1 if sep else 1
    if n_columns > limits.max_channels + 16:  # room for time, marker and auxiliary columns
        raise BrainkitError(f"{path.name} has {n_columns} columns, more than the limit of "
                            f"{limits.max_channels} channels")


def _check_npz(path: Path, limits: Limits) -> None:
    """Check an ``.npz``'s ``data`` from its ``.npy`` header before anything is decompressed."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = {m.filename: m for m in archive.infolist()}
            if sum(m.file_size for m in members.values()) > limits.max_bytes:
                raise BrainkitError(f"{path.name} unpacks to more than the {mib(limits)} MiB limit")
            member = members.get("data.npy")
            if member is None:
                return  # the reader says what is missing
            with archive.open(member) as f:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read_header(f)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error) as err:
        raise BrainkitError(f"{path.name} is not a readable NumPy archive ({err})") from None
    if len(shape) not in (1, 2):
        return  # the reader refuses other shapes
    n_channels, n_times = (1, shape[0]) if len(shape) == 1 else shape
    if int(np.prod(shape)) * dtype.itemsize > member.file_size:
        raise BrainkitError(f"{path.name}: 'data' claims shape {tuple(shape)} but holds only "
                            f"{member.file_size} bytes; the file is damaged")
    check_size(n_channels, n_times, limits)


def _check_riff(path: Path, wide: bool) -> None:
    """Walk the chunks of an ANT eego file (RIFF, or RF64 with 8-byte sizes) and refuse one whose
    sizes do not fit the file: the C library behind MNE's reader can hang on such a file."""
    size = path.stat().st_size
    width = 8 if wide else 4
    unpack = struct.Struct("<Q" if wide else "<I").unpack

    def walk(f, start: int, end: int, depth: int) -> None:
        pos = start
        while pos + 4 + width <= end:
            f.seek(pos)
            head = f.read(4 + width)
            chunk, length = head[:4], unpack(head[4:])[0]
            if not all(32 <= b < 127 for b in chunk) or pos + 4 + width + length > end:
                raise BrainkitError(f"{path.name}: the chunk sizes of this ANT CNT file do not fit its "
                                    f"{size} bytes; it is truncated or damaged")
            if chunk in (b"LIST", b"RIFF", b"RF64") and depth < 8:
                walk(f, pos + 8 + width, pos + 4 + width + length, depth + 1)
            pos += 4 + width + length + (length & 1)

    with open(path, "rb") as f:
        walk(f, 0, size, 0)


def _check_companions(raw, entry: Path) -> None:
    """Refuse a header that makes the reader open files outside the recording's own folder
    (e.g. a BrainVision ``DataFile=../../secret`` or an EEGLAB ``.set`` naming another ``.fdt``)."""
    folder = (entry if entry.is_dir() else entry.parent).resolve()
    for name in getattr(raw, "filenames", ()) or ():
        if name is None:
            continue
        target = Path(name).resolve()
        if target != folder and folder not in target.parents:
            raise BrainkitError(f"{entry.name} points to a data file outside its folder "
                                f"({Path(name).name}); refused")


# ------------------------------------------------------------------------------- readers


def _load(raw, path: Path, limits: Limits):
    """Load a raw MNE opened lazily, once its companions and size are checked."""
    _check_companions(raw, path)
    check_limits(len(raw.ch_names), raw.info["sfreq"], raw.n_times, limits)
    raw.load_data(verbose="error")
    return raw


def _mne(open_raw: Callable) -> Callable:
    """A reader from ``open_raw(path)``, which opens a file with MNE without loading it."""
    def read(path, sfreq, limits, warnings):
        return _load(open_raw(path), path, limits), None
    return read


def _own(read_raw: Callable) -> Callable:
    """A reader from one of :mod:`brainkit.io.formats` (``read_raw(path, sfreq) -> (raw, notes)``)."""
    def read(path, sfreq, limits, warnings):
        raw, notes = read_raw(path, sfreq)
        warnings.extend(notes)
        check_limits(len(raw.ch_names), raw.info["sfreq"], raw.n_times, limits)
        return raw, None
    return read


def _read_edf(path, sfreq, limits, warnings):
    """EDF/BDF: header checked first; annotations read as Latin-1 when they are not UTF-8."""
    import mne

    fmt = _check_edf(path, limits, warnings)
    try:
        raw = mne.io.read_raw(path, preload=False, verbose="error")
    except Exception as err:  # MNE raises a bare Exception for undecodable EDF annotations
        if "annotations channel" not in str(err):
            raise
        warnings.append("annotation text is not valid UTF-8 and was read as Latin-1")
        raw = mne.io.read_raw(path, preload=False, encoding="latin1", verbose="error")
    raw = _load(raw, path, limits)
    return raw, fmt + ("+" if len(raw.annotations) and not fmt.endswith("+") else "")


def _read_cnt(path, sfreq, limits, warnings):
    """ANT eego (RIFF) or Neuroscan CNT; a Neuroscan width that MNE cannot guess is tried in turn."""
    import mne

    with open(path, "rb") as f:
        magic = f.read(4)
    if magic in (b"RIFF", b"RF64"):
        _check_riff(path, wide=magic == b"RF64")
        raw = mne.io.read_raw_ant(path, preload=False, verbose="error")
        return _load(raw, path, limits), "ANT eego CNT"
    errors = []
    for data_format in ("auto", "int32", "int16"):
        try:
            raw = mne.io.read_raw_cnt(path, data_format=data_format, preload=True, verbose="error")
        except Exception as err:  # MNE's CNT reader raises several types on guessed widths
            errors.append(f"{data_format}: {err}")
            continue
        if data_format != "auto":
            warnings.append(f"sample width not in the CNT header; read as {data_format}")
        return _load(raw, path, limits), "Neuroscan CNT"
    logger.debug("MNE could not read %s: %s", path.name, "; ".join(errors))
    raw, notes = formats.read_neuroscan_blocks(path)
    warnings.extend(notes)
    return _load(raw, path, limits), "Neuroscan CNT"


def _read_eeglab(path, sfreq, limits, warnings):
    """EEGLAB ``.set``; an epoched file is joined end to end."""
    import mne

    try:
        raw = mne.io.read_raw_eeglab(path, preload=False, verbose="error")
    except TypeError as err:
        if "epochs" not in str(err):
            raise
        raw, notes = formats.read_eeglab_epochs(path)
        warnings.extend(notes)
        return _load(raw, path, limits), "EEGLAB (epoched)"
    return _load(raw, path, limits), None


def _open(path):
    import mne

    return mne.io.read_raw(path, preload=False, verbose="error")


def _open_with(reader: str, lazy: bool = True, **options) -> Callable:
    """``open_raw(path)`` for :func:`_mne` from one of ``mne.io``'s ``read_raw_*`` readers (``lazy``:
    it takes ``preload=False``; the others load the file whole, within the upload size limit)."""
    def open_raw(path):
        import mne

        return getattr(mne.io, reader)(path, verbose="error", **options, **({"preload": False} if lazy else {}))
    return open_raw


def _read_eeg(path, sfreq, limits, warnings):
    """``.eeg``: Nihon Kohden when its header says so, else BrainVision's data read through its header."""
    if nihon.nihon_version(path):
        nihon.check_nihon(path, limits, warnings)
        return _load(nihon.read_nihon(path), path, limits), None
    header = nihon.brainvision_header(path)
    if header is None:
        raise nihon.missing_header(path)
    return read_file(header, sfreq, limits, warnings)


def _read_dat(path, sfreq, limits, warnings):
    """``.dat``: BCI2000 when its first line says so, else the data part of the header beside it."""
    if bci2000.is_bci2000(path):
        return bci2000.read_bci2000(path, limits, warnings), None
    header = bci2000.header_beside(path)
    if header is None:
        raise bci2000.missing_header(path)
    return read_file(header, sfreq, limits, warnings)


_MNE = _mne(_open)  #: the formats ``mne.io.read_raw`` picks by extension itself
_TABLE = _own(formats.read_table)
_XDF = _own(formats.read_xdf)

#: extension -> :class:`Reader`; the one table that says what brainkit reads.
READERS: dict[str, Reader] = {
    ".edf": Reader("EDF", _read_edf),
    ".bdf": Reader("BDF", _read_edf),
    ".gdf": Reader("GDF", _MNE),
    ".fif": Reader("FIF", _MNE),
    ".fif.gz": Reader("FIF", _MNE),
    ".vhdr": Reader("BrainVision", _MNE, _check_brainvision),
    ".ahdr": Reader("BrainVision", _MNE, _check_brainvision),
    ".set": Reader("EEGLAB", _read_eeglab),
    ".eeg": Reader("Nihon Kohden", _read_eeg),
    ".dat": Reader("BCI2000", _read_dat),
    ".cnt": Reader("CNT", _read_cnt),
    ".mff": Reader("EGI MFF", _MNE),
    ".ds": Reader("CTF", _MNE),
    ".sqd": Reader("KIT", _MNE),
    ".con": Reader("KIT", _MNE),
    ".nxe": Reader("Nexstim", _MNE),
    ".lay": Reader("Persyst", _MNE),
    ".data": Reader("Nicolet", _mne(_open_with("read_raw_nicolet", ch_type="eeg"))),
    ".egi": Reader("EGI", _mne(_open_with("read_raw_egi"))),
    ".raw": Reader("EGI", _mne(_open_with("read_raw_egi"))),
    ".cdt": Reader("Curry", _MNE),
    ".dap": Reader("Curry", _MNE),
    ".nedf": Reader("NEDF", _MNE),
    ".xdf": Reader("XDF", _XDF),
    ".xdfz": Reader("XDF", _XDF),
    ".csv": Reader("CSV", _TABLE, _check_table),
    ".tsv": Reader("TSV", _TABLE, _check_table),
    ".txt": Reader("text", _TABLE, _check_table),
    ".npz": Reader("NumPy", _own(formats.read_npz), _check_npz),
}
READERS.update({f".ns{i}": Reader("Blackrock NSx", _mne(_open_with("read_raw_nsx"))) for i in range(1, 7)})
READERS[".asc"] = Reader("EyeLink", _mne(_open_with("read_raw_eyelink", lazy=False)))  # eye tracking
FORMATS = READERS  #: the same table under its public name (``ext in FORMATS``)
