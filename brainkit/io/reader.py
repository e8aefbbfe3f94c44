"""Read any EEG or MEG recording into a de-identified :class:`Recording`.

``read_recording`` takes what a user has: a path (file or folder), bytes or a file-like object
plus its file name (what an upload gives), several files of one multi-file recording, or one zip
holding them. It picks the reader from one dispatch table (:data:`FORMATS`), checks sizes from
the header before loading, loads the data, fixes channel kinds that exports get wrong, and
returns a :class:`Recording` whose MNE ``Raw`` no longer carries the patient's identity.

What is removed on load: subject info (name, birth date, identifiers, sex, hand), experimenter,
description, project, device and helium serials, file/measurement ids, the original file names
and every reader-specific header field; the measurement date is set to 2000-01-01 (time of day
kept). Only the signal, channel names, kinds, positions, rate and annotations remain.
"""

from __future__ import annotations

import contextlib
import gzip
import io as _io
import re
import shutil
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brainkit.io import formats
from brainkit._logging import logger
from brainkit.errors import BrainkitError
from brainkit.sensors import MODEL_KINDS, SensorArray, sensors_from_info


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

#: extension -> (format name, reader). ``None`` means ``mne.io.read_raw`` dispatches it.
FORMATS: dict[str, tuple[str, object]] = {
    ".edf": ("EDF", None), ".bdf": ("BDF", None), ".gdf": ("GDF", None),
    ".fif": ("FIF", None), ".fif.gz": ("FIF", None),
    ".vhdr": ("BrainVision", None), ".ahdr": ("BrainVision", None),
    ".set": ("EEGLAB", None), ".cnt": ("CNT", None), ".mff": ("EGI MFF", None),
    ".ds": ("CTF", None), ".sqd": ("KIT", None), ".con": ("KIT", None),
    ".nxe": ("Nexstim", None), ".lay": ("Persyst", None), ".data": ("Nicolet", None),
    ".egi": ("EGI", None), ".raw": ("EGI", None), ".cdt": ("Curry", None), ".dap": ("Curry", None),
    ".nedf": ("NEDF", None),
    ".xdf": ("XDF", formats.read_xdf), ".xdfz": ("XDF", formats.read_xdf),
    ".csv": ("CSV", formats.read_table), ".tsv": ("TSV", formats.read_table),
    ".txt": ("text", formats.read_table), ".npz": ("NumPy", formats.read_npz),
}
#: files that belong to a recording but are not its entry point
_COMPANIONS = {".vmrk", ".eeg", ".dat", ".fdt", ".evt", ".event", ".hdr", ".amrk", ".json",
               ".xml", ".bin", ".md", ".plist", ".lch", ".rtf", ".bak", ".pdf", ".tsv.gz"}
_NAME_KINDS = [
    (re.compile(r"\b(ECG|EKG)\b", re.I), "ecg"), (re.compile(r"\bEOG|^(LOC|ROC|HEOG|VEOG)\b", re.I), "eog"),
    (re.compile(r"\bEMG|^CHIN", re.I), "emg"),
    (re.compile(r"^(STI|STATUS|TRIG|TRIGGER|MARKER|EVENT)", re.I), "stim"),
    (re.compile(r"\bAUX\b|^(RESP|SAO2|SPO2|PULSE|PLETH|PHOTIC|LIGHT|NAF|VAB|THOR|ABDO|POS|TEMP|"
                r"HR|BURSTS|IBI|SUPPR|PATIENT EVENT|HYPNO|PHONO|VTH|PR$|SNORE|FLOW|LEG|PLM)",
                re.I), "misc"),
]


_REFERENCE_PAIR = re.compile(r"^(EEG\s*)?(A1|A2|M1|M2)\s*-\s*(A1|A2|M1|M2)$", re.I)


@dataclass
class Recording:
    """One recording, read and de-identified.

    Attributes
    ----------
    raw : mne.io.RawArray
        Preloaded signal in SI units (V, T, T/m), de-identified (see the module docstring).
    sensors : SensorArray
        One entry per channel of ``raw``, in the same order.
    format : str
        File format, e.g. ``EDF+``, ``BrainVision``, ``CSV``.
    name : str
        The file name the recording came from (no folder).
    warnings : list of str
        One line for each thing that was assumed or looks wrong.
    truncated : bool
        The file holds less data than its header promises (what was there is read).
    """

    raw: object
    sensors: SensorArray
    format: str
    name: str
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False

    @property
    def annotations(self):
        return self.raw.annotations

    @property
    def sfreq(self) -> float:
        return float(self.raw.info["sfreq"])

    @property
    def duration_s(self) -> float:
        return self.raw.n_times / self.sfreq

    def summary(self) -> dict:
        """The JSON of ``brainkit info``: format, channels, rate, duration, annotations, warnings."""
        ann = self.raw.annotations
        counts: dict[str, int] = {}
        for kind in self.sensors.kinds:
            counts[kind] = counts.get(kind, 0) + 1
        descriptions: dict[str, int] = {}
        for d in ann.description:
            descriptions[str(d)] = descriptions.get(str(d), 0) + 1
        return {
            "name": self.name,
            "format": self.format,
            "n_channels": len(self.sensors),
            "n_model_channels": int(len(self.sensors.model_picks)),
            "channels_by_kind": counts,
            "sfreq": self.sfreq,
            "n_samples": int(self.raw.n_times),
            "duration_s": round(self.duration_s, 6),
            "channels": [
                {"name": n, "kind": k, "has_position": bool(h)}
                for n, k, h in zip(self.sensors.names, self.sensors.kinds, self.sensors.has_position)
            ],
            "annotations": {"n": len(ann), "descriptions": descriptions},
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------------- sources


def _safe_name(name: str) -> str:
    """A file name without folders, control characters or path tricks."""
    base = Path(str(name).replace("\\", "/")).name
    base = re.sub(r"[^\w.\- ]", "_", base).strip(" .")
    if len(base) > 120:  # file systems refuse names over 255 bytes; keep the extension
        stem, dot, ext = base.rpartition(".")
        base = stem[:100] + dot + ext[-16:] if dot and len(ext) <= 16 else base[:120]
    return base or "upload"


def _read_bytes(item, limits: Limits) -> bytes:
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
    elif hasattr(item, "getvalue"):
        data = item.getvalue()
    elif hasattr(item, "read"):
        if hasattr(item, "seek"):
            item.seek(0)
        data = item.read(limits.max_bytes + 1)
    else:
        raise BrainkitError(f"cannot read a {type(item).__name__}: give a path, bytes or a file object")
    if len(data) > limits.max_bytes:
        raise BrainkitError(f"file is larger than the {limits.max_bytes // 2**20} MiB limit")
    return data


def _extract_zip(data_or_path, dest: Path, limits: Limits) -> None:
    """Extract a zip safely: no absolute or parent paths, no nested zips, bounded size and count."""
    try:
        archive = zipfile.ZipFile(data_or_path if isinstance(data_or_path, Path)
                                  else _io.BytesIO(data_or_path))
    except (zipfile.BadZipFile, OSError) as err:
        raise BrainkitError(f"not a readable zip archive ({err})") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > limits.max_archive_files:
            raise BrainkitError(f"zip holds {len(members)} files, more than the limit of "
                                f"{limits.max_archive_files}")
        declared = sum(m.file_size for m in members)
        if declared > limits.max_bytes:
            raise BrainkitError(f"zip unpacks to {declared / 2**20:.0f} MiB, more than the "
                                f"{limits.max_bytes // 2**20} MiB limit")
        written = 0
        for member in members:
            parts = Path(member.filename.replace("\\", "/")).parts
            if member.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise BrainkitError(f"zip entry {member.filename!r} points outside the archive; refused")
            if parts and parts[0] == "__MACOSX":
                continue
            if member.filename.lower().endswith(".zip"):
                raise BrainkitError("zip inside a zip is not supported: upload the inner archive")
            if member.flag_bits & 0x1:
                raise BrainkitError(f"zip entry {_safe_name(member.filename)} is password-protected; "
                                    "brainkit reads unencrypted archives only")
            target = dest.joinpath(*[_safe_name(p) for p in parts])
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                written = _copy_member(archive, member, target, written, limits)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
                raise BrainkitError(f"zip entry {_safe_name(member.filename)} is damaged ({err})") from None


def _copy_member(archive, member, target: Path, written: int, limits: Limits) -> int:
    """Unpack one zip member to ``target``; returns the bytes unpacked so far, all members counted."""
    with archive.open(member) as src, open(target, "wb") as out:
        while chunk := src.read(1 << 20):
            written += len(chunk)
            if written > limits.max_bytes:  # the header lied about sizes (zip bomb)
                raise BrainkitError("zip unpacks to more than the "
                                    f"{limits.max_bytes // 2**20} MiB limit; refused")
            out.write(chunk)
    return written


def _gunzip(path: Path, limits: Limits) -> Path:
    """Decompress ``x.csv.gz`` to ``x.csv`` beside it, bounded by the size limit."""
    target = path.with_suffix("")
    try:
        with gzip.open(path, "rb") as src, open(target, "wb") as out:
            written = 0
            while chunk := src.read(1 << 20):
                written += len(chunk)
                if written > limits.max_bytes:
                    raise BrainkitError(f"{path.name} unpacks to more than the "
                                        f"{limits.max_bytes // 2**20} MiB limit; refused")
                out.write(chunk)
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise BrainkitError(f"{path.name} is not a readable gzip file ({err})") from None
    path.unlink()
    return target


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for ext in (".fif.gz", ".tsv.gz"):
        if name.endswith(ext):
            return ext
    return path.suffix.lower()


def _materialize(source, name, workdir: Path, limits: Limits) -> tuple[Path, str]:
    """Turn any source into a path on disk. Returns (path, display name)."""
    if isinstance(source, (str, Path)) and not (isinstance(source, str) and "\x00" in source):
        path = Path(source)
        if not path.exists():
            raise BrainkitError(f"no such file or folder: {path}")
        if path.is_file() and path.stat().st_size > limits.max_bytes:
            raise BrainkitError(f"{path.name} is larger than the {limits.max_bytes // 2**20} MiB limit")
        if path.is_file() and _suffix(path) == ".zip":
            _extract_zip(path, workdir, limits)
            return _find_entry(workdir), path.name
        if path.is_file() and path.name.lower().endswith(".gz") and _suffix(path) != ".fif.gz":
            copy = workdir / _safe_name(path.name)
            shutil.copyfile(path, copy)
            return _gunzip(copy, limits), path.name
        if path.is_dir() and _suffix(path) not in (".mff", ".ds"):
            return _find_entry(path), path.name
        return path, path.name
    items = list(source) if isinstance(source, (list, tuple)) else [source]
    names = []
    for item in items:
        if isinstance(item, tuple) and len(item) == 2:
            item_name, payload = item
        elif isinstance(item, (str, Path)):
            item_name, payload = Path(item).name, Path(item).read_bytes()
        else:
            item_name = getattr(item, "name", None) or (name if len(items) == 1 else None)
            payload = item
        if not item_name:
            raise BrainkitError("a file name is needed to know the format: pass name='x.edf'")
        data = _read_bytes(payload, limits)
        names.append(_safe_name(item_name))
        target = workdir / names[-1]
        if target.suffix.lower() == ".zip":
            _extract_zip(data, workdir, limits)
        else:
            target.write_bytes(data)
            if target.name.lower().endswith(".gz") and _suffix(target) != ".fif.gz":
                _gunzip(target, limits)
    display = name or (names[0] if len(names) == 1 else "+".join(names))
    return _find_entry(workdir), _safe_name(display)


def _find_entry(folder: Path) -> Path:
    """The one recording entry point in a folder of extracted or uploaded files."""
    candidates = []
    for path in sorted(folder.rglob("*")):
        if any(p.suffix.lower() in (".mff", ".ds") for p in path.relative_to(folder).parents
               if str(p) != "."):
            continue  # inside a folder-format recording
        ext = _suffix(path)
        if path.is_dir() and ext in (".mff", ".ds"):
            candidates.append(path)
        elif path.is_file() and ext in FORMATS:
            candidates.append(path)
    if not candidates:
        present = sorted({_suffix(p) or p.name for p in folder.rglob("*") if p.is_file()})
        raise BrainkitError(f"no recording found among the files ({', '.join(present) or 'none'}); "
                            f"supported: {supported_formats()}")
    entries = [c for c in candidates if _suffix(c) not in (".txt", ".csv", ".tsv")] or candidates
    if len(entries) > 1:
        shown = ", ".join(e.name for e in entries[:5])
        raise BrainkitError(f"{len(entries)} recordings found ({shown}): give one at a time")
    return entries[0]


def list_recordings(folder) -> list[Path]:
    """The recording entry points in a folder (one per recording: ``x.vhdr``, not its ``.eeg``),
    sorted by name; folder formats (``.mff``, ``.ds``) count as one entry."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(folder.iterdir()):
        name = path.name.lower()
        ext = _suffix(path)
        if name.endswith(".gz") and ext not in FORMATS:
            ext = _suffix(Path(name[:-3]))
        if ext in FORMATS and (path.is_file() or ext in (".mff", ".ds")):
            entries.append(path)
    return entries


def supported_formats() -> str:
    """Comma-separated list of the extensions brainkit reads."""
    return ", ".join(sorted(FORMATS)) + ", .zip of any of these, .gz of text exports"


# --------------------------------------------------------------------------------- readers


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
    header = _edf_header(path)
    base = "BDF" if header["bdf"] else "EDF"
    if not np.isfinite(header["record_s"]) or header["record_s"] <= 0:
        raise BrainkitError(f"{path.name}: EDF record duration {header['record_s']} s is not a positive "
                            "number")
    if header["n_signals"] > limits.max_channels:
        raise BrainkitError(f"{header['n_signals']} channels is more than the limit of {limits.max_channels}")
    rate = max(header["samples"]) / header["record_s"]
    if rate > limits.max_sfreq:
        raise BrainkitError(f"sampling rate {rate:g} Hz is outside 0-{limits.max_sfreq:g} Hz")
    if header["n_records"] > 0 and header["held_records"] < header["n_records"]:
        warnings.append(f"file is truncated: header promises {header['n_records']} data records, "
                        f"the file holds {header['held_records']}; the rest is missing")
    if header["held_records"] == 0:
        raise BrainkitError(f"{path.name} holds no complete data record")
    return base + ("+" if header["plus"] else "")


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


def _read_cnt(path: Path):
    import mne

    with open(path, "rb") as f:
        magic = f.read(4)
    if magic in (b"RIFF", b"RF64"):
        _check_riff(path, wide=magic == b"RF64")
        return mne.io.read_raw_ant(path, preload=False, verbose="error"), "ANT eego CNT", []
    errors = []
    for data_format in ("auto", "int32", "int16"):
        try:
            raw = mne.io.read_raw_cnt(path, data_format=data_format, preload=True, verbose="error")
        except Exception as err:  # MNE's CNT reader raises several types on guessed widths
            errors.append(f"{data_format}: {err}")
            continue
        note = [] if data_format == "auto" else [f"sample width not in the CNT header; read as {data_format}"]
        return raw, "Neuroscan CNT", note
    logger.debug("MNE could not read %s: %s", path.name, "; ".join(errors))
    raw, notes = formats.read_neuroscan_blocks(path)
    return raw, "Neuroscan CNT", notes


def _read_mne(path: Path, ext: str, limits: Limits, warnings: list[str]):
    """Read with MNE (header only, then checked, then loaded). Returns (raw, format)."""
    import mne

    fmt = FORMATS.get(ext, ("unknown", None))[0]
    if ext in (".edf", ".bdf"):
        fmt = _check_edf(path, limits, warnings)
    if ext == ".cnt":
        raw, fmt, notes = _read_cnt(path)
        warnings.extend(notes)
    elif ext == ".set":
        try:
            raw = mne.io.read_raw_eeglab(path, preload=False, verbose="error")
        except TypeError as err:
            if "epochs" not in str(err):
                raise
            raw, notes = formats.read_eeglab_epochs(path)
            warnings.extend(notes)
            fmt = "EEGLAB (epoched)"
    else:
        raw = _open_mne(path, ext, warnings)
    _check_companions(raw, path)
    check_limits(len(raw.ch_names), raw.info["sfreq"], raw.n_times, limits)
    raw.load_data(verbose="error")
    if ext in (".edf", ".bdf") and fmt.endswith("+") is False and len(raw.annotations):
        fmt += "+"
    return raw, fmt


def _open_mne(path: Path, ext: str, warnings: list[str]):
    """``mne.io.read_raw`` without loading, plus the readers it cannot pick by extension alone."""
    import mne

    if ext == ".data":
        return mne.io.read_raw_nicolet(path, ch_type="eeg", preload=False, verbose="error")
    if ext in (".raw", ".egi"):
        return mne.io.read_raw_egi(path, preload=False, verbose="error")
    try:
        return mne.io.read_raw(path, preload=False, verbose="error")
    except Exception as err:  # MNE raises a bare Exception for undecodable EDF annotations
        if ext not in (".edf", ".bdf") or "annotations channel" not in str(err):
            raise
    warnings.append("annotation text is not valid UTF-8 and was read as Latin-1")
    return mne.io.read_raw(path, preload=False, encoding="latin1", verbose="error")


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
        _check_size(n_channels, 0, limits)
    if interval is not None and not (np.isfinite(interval) and interval > 0):
        raise BrainkitError(f"{path.name}: SamplingInterval {interval} µs is not a positive number")
    if interval is not None and 1e6 / interval > limits.max_sfreq:
        raise BrainkitError(f"sampling rate {1e6 / interval:g} Hz is outside 0-{limits.max_sfreq:g} Hz")
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
                raise BrainkitError(f"{path.name} unpacks to more than the {limits.max_bytes // 2**20} MiB "
                                    "limit")
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
    _check_size(n_channels, n_times, limits)


#: checks of a file's header before its reader runs, by extension
_PRECHECKS = {".vhdr": _check_brainvision, ".ahdr": _check_brainvision, ".csv": _check_table,
              ".tsv": _check_table, ".txt": _check_table, ".npz": _check_npz}


def _check_size(n_channels: int, n_times: int, limits: Limits) -> None:
    if n_channels > limits.max_channels:
        raise BrainkitError(f"{n_channels} channels is more than the limit of {limits.max_channels}")
    if n_channels * n_times > limits.max_samples:
        raise BrainkitError(f"{n_channels} channels x {n_times} samples is more than the "
                            f"{limits.max_samples:,} samples brainkit holds in memory")


def check_limits(n_channels: int, sfreq: float, n_times: int, limits: Limits = DEFAULT_LIMITS):
    """Raise a one-line error when a recording is beyond what brainkit accepts."""
    if n_channels < 1:
        raise BrainkitError("the recording has no channels")
    _check_size(n_channels, 0, limits)
    if not np.isfinite(sfreq) or sfreq <= 0 or sfreq > limits.max_sfreq:
        raise BrainkitError(f"sampling rate {sfreq} Hz is outside 0-{limits.max_sfreq:g} Hz")
    if n_times < 2:
        raise BrainkitError(f"the recording holds {n_times} sample(s): too short to analyse")
    if n_times / sfreq > limits.max_duration_s:
        raise BrainkitError(f"recording lasts {n_times / sfreq / 3600:.1f} h, more than the limit of "
                            f"{limits.max_duration_s / 3600:g} h")
    _check_size(n_channels, n_times, limits)


def _fix_kinds(raw) -> None:
    """Set the kinds that exports label as EEG but whose names say otherwise (ECG, EOG, AUX...)."""
    import mne

    changes = {}
    for i, name in enumerate(raw.ch_names):
        if mne.channel_type(raw.info, i) != "eeg":
            continue
        if _REFERENCE_PAIR.match(name.strip()):  # e.g. A2-A1: ear against ear, no brain signal
            changes[name] = "misc"
            continue
        for pattern, kind in _NAME_KINDS:
            if pattern.search(name.strip()):
                changes[name] = kind
                break
    if changes:
        raw.set_channel_types(changes, on_unit_change="ignore", verbose="error")


def _deidentified(raw):
    """A new RawArray holding only signal, channels and annotations: nothing else survives."""
    import mne

    info = raw.info.copy()
    with info._unlock():
        info["subject_info"] = None
        info["experimenter"] = None
        info["description"] = None
        info["proj_name"] = None
        info["proj_id"] = None
        info["device_info"] = None
        info["helium_info"] = None
        info["file_id"] = None
        info["meas_id"] = None
        info["hpi_results"] = []
        info["hpi_meas"] = []
        info["hpi_subsystem"] = None
        info["utc_offset"] = None
        info["xplotter_layout"] = None
        info["gantry_angle"] = None
    meas_date = raw.info["meas_date"]
    clean = mne.io.RawArray(raw.get_data(), info, first_samp=0, verbose="error")
    ann = raw.annotations
    onsets = ann.onset - (raw.first_samp / raw.info["sfreq"] if ann.orig_time is not None else 0.0)
    new_date = None
    if meas_date is not None:
        new_date = meas_date.replace(year=2000, month=1, day=1)
    clean.set_meas_date(new_date)
    clean.set_annotations(mne.Annotations(onsets, ann.duration, [str(d) for d in ann.description],
                                          orig_time=new_date, ch_names=ann.ch_names))
    return clean


def _fix_units(raw, warnings: list[str]) -> None:
    """Rescale electrode channels whose values are impossible in volts (files that store µV
    without saying so): a robust amplitude above 50 mV means the numbers are microvolts."""
    import mne

    electric = {"eeg", "eog", "ecg", "emg"}
    rescaled = []
    for i, name in enumerate(raw.ch_names):
        if mne.channel_type(raw.info, i) not in electric:
            continue
        x = raw._data[i]
        if np.nanpercentile(np.abs(x - np.nanmedian(x)), 95) > 0.05:
            raw._data[i] *= 1e-6
            rescaled.append(name)
    if rescaled:
        warnings.append(f"{len(rescaled)} channel(s) had values of volts that only make sense as "
                        f"microvolts and were rescaled ({', '.join(rescaled[:6])})")


def _clean_samples(raw, warnings: list[str]) -> None:
    """Replace non-finite samples by zero, saying how many and where."""
    data = raw._data
    bad = ~np.isfinite(data)
    if bad.any():
        per_channel = bad.sum(axis=1)
        names = [raw.ch_names[i] for i in np.flatnonzero(per_channel)]
        shown = ", ".join(names[:6]) + ("..." if len(names) > 6 else "")
        warnings.append(f"{int(bad.sum())} samples were NaN or infinite and are set to 0 ({shown})")
        data[bad] = 0.0


def read_recording(source, name: str | None = None, *, sfreq: float | None = None,
                   limits: Limits = DEFAULT_LIMITS, verbose=None) -> Recording:
    """Read a recording from a path, bytes, a file-like object, several files or a zip.

    Parameters
    ----------
    source : str | Path | bytes | file-like | list
        A path to a file or folder (``.mff``, ``.ds``); bytes or a file-like object (then ``name``
        or its ``.name`` gives the format); a list of paths, ``(name, bytes)`` pairs or file-like
        objects with ``.name`` (the parts of one multi-file recording, e.g. ``.vhdr/.vmrk/.eeg``);
        or a ``.zip`` holding one recording.
    name : str | None
        File name for bytes / file-like sources (its extension selects the reader).
    sfreq : float | None
        Sampling rate in Hz for exports that carry none (single-column text); overrides a rate
        derived from timestamps.
    limits : Limits
        Largest file, channel count, duration and rate accepted.
    verbose : bool | str | None
        Log level for this call.

    Returns
    -------
    Recording

    Raises
    ------
    BrainkitError
        For anything unreadable, with one line that names the problem.
    """
    from brainkit._logging import set_log_level

    set_log_level(verbose)
    with tempfile.TemporaryDirectory(prefix="brainkit-") as tmp:
        try:
            path, display = _materialize(source, name, Path(tmp), limits)
            chatter = _io.StringIO()  # some readers print; stdout belongs to the caller
            with contextlib.redirect_stdout(chatter):
                recording = _read_path(path, display, sfreq, limits)
            if chatter.getvalue().strip():
                logger.debug("reader output: %s", chatter.getvalue().strip())
            return recording
        except BrainkitError:
            raise
        except MemoryError:
            raise BrainkitError("the recording does not fit in memory") from None
        except Exception as err:  # readers of damaged files raise anything; the user gets one line
            logger.debug("reader failed", exc_info=True)
            label = _safe_name(name or getattr(source, "name", None) or (
                Path(source).name if isinstance(source, (str, Path)) else "upload"))
            folders = [tmp, str(Path(tmp).resolve())] + _folders(source)
            raise BrainkitError(_failure(label, err, folders)) from None


def _folders(source) -> list[str]:
    """The folders of a source given as paths: said as nothing in messages (the user knows them)."""
    items = source if isinstance(source, (list, tuple)) else [source]
    return [str(Path(p).resolve().parent) for p in items
            if isinstance(p, (str, Path)) and "\x00" not in str(p)]


def _failure(label: str, err: Exception, folders: list[str]) -> str:
    """One line for a reader's own exception: the file, that it is damaged or not of its format, and
    the reader's words without folder names or Python reprs."""
    detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    detail = re.sub(r"(?:Posix|Windows)?Path\('([^']*)'\)", r"'\1'", detail)
    for folder in sorted(folders, key=len, reverse=True):
        detail = detail.replace(folder + "/", "").replace(folder, "")
    kind = FORMATS.get(_suffix(Path(label)), ("recording",))[0]
    return f"could not read {label}: not a valid {kind} file, or damaged ({detail[:300]})"


def recording_from_raw(raw, name: str = "recording", fmt: str = "MNE Raw") -> Recording:
    """Wrap an MNE Raw made in memory (e.g. by :mod:`brainkit.data.simulate`) the way files are read:
    kinds fixed by name, de-identified, non-finite samples cleaned, sensors found."""
    warnings: list[str] = []
    raw = raw.copy().load_data(verbose="error")
    _fix_kinds(raw)
    raw = _deidentified(raw)
    _clean_samples(raw, warnings)
    sensors, sensor_warnings = sensors_from_info(raw.info)
    return Recording(raw=raw, sensors=sensors, format=fmt, name=name,
                     warnings=warnings + sensor_warnings)


def _read_path(path: Path, display: str, sfreq: float | None, limits: Limits) -> Recording:
    ext = _suffix(path)
    if ext not in FORMATS:
        raise BrainkitError(f"{path.name}: unknown format {ext or '(no extension)'}; supported: "
                            f"{supported_formats()}")
    warnings: list[str] = []
    fmt, reader = FORMATS[ext]
    if path.is_file() and path.stat().st_size == 0:
        raise BrainkitError(f"{path.name} is empty (0 bytes)")
    if ext in _PRECHECKS:
        _PRECHECKS[ext](path, limits)
    if reader is None:
        raw, fmt = _read_mne(path, ext, limits, warnings)
    else:
        raw, notes = reader(path, sfreq)
        warnings.extend(notes)
        check_limits(len(raw.ch_names), raw.info["sfreq"], raw.n_times, limits)
    _fix_kinds(raw)
    raw = _deidentified(raw)
    _clean_samples(raw, warnings)
    _fix_units(raw, warnings)
    sensors, sensor_warnings = sensors_from_info(raw.info)
    warnings.extend(sensor_warnings)
    if not any(k in MODEL_KINDS for k in sensors.kinds):
        warnings.append("no EEG or MEG channel: nothing the model can read")
    logger.info("read %s (%s): %d channels, %.1f s at %g Hz", display, fmt, len(sensors),
                raw.n_times / raw.info["sfreq"], raw.info["sfreq"])
    truncated = any(w.startswith("file is truncated") for w in warnings)
    return Recording(raw=raw, sensors=sensors, format=fmt, name=display, warnings=warnings,
                     truncated=truncated)
