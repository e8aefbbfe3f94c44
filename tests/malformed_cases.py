"""The malformed-input corpus: damaged, lying and hostile copies of real recordings, made at test time.

:func:`build_corpus` writes every case into a temporary folder from the sample recordings in
``sample_data/`` (and, when given, real files of ``../shared/data``) and returns the list of
:class:`Case`. :func:`run_corpus` reads each case with :func:`brainkit.io.read_recording` in worker
processes, each case under a wall-clock limit and with its peak memory measured, and returns one
result per case. Nothing here is committed data: every file is derived from the sources at test time.

The families: truncation at many offsets, flipped bytes in headers and data, headers that lie
(sample, record and channel counts, absurd rates, 10,000 channels), wrong or missing extensions,
empty files, zeros, random bytes, NaN and infinite samples, one-sample recordings, zips (path
traversal, nested, bombs, too many files), and multi-file recordings with a part missing.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import struct
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_data"
#: seconds a case may take before it counts as a hang
CASE_TIMEOUT_S = 10.0
#: peak resident-memory growth a case may cause (read_recording of one file), bytes
MEMORY_BOUND = 512 * 2**20


@dataclass
class Case:
    """One malformed input.

    Attributes
    ----------
    name : str
        Unique, ``family/what``.
    family : str
        What kind of damage (``truncation``, ``flip``, ``lying-header``...).
    source : str or list of str
        A path (file or folder), or the paths of the parts of one upload.
    kwargs : dict
        Extra arguments of ``read_recording``: ``sfreq``, or ``limits`` as a dict of
        :class:`brainkit.io.Limits` fields.
    expect : str
        ``error`` when the case must be refused, ``any`` when a recording (possibly with warnings)
        or a clean error are both right.
    max_peak_mib : float or None
        A tighter memory bound than :data:`MEMORY_BOUND` for a case whose header promises far more
        data than the file holds (it must be refused from the header, before allocating).
    """

    name: str
    family: str
    source: object
    kwargs: dict = field(default_factory=dict)
    expect: str = "any"
    max_peak_mib: float | None = None


class _Corpus:
    """Writes case files into one folder and collects the cases."""

    def __init__(self, root: Path):
        self.root = root
        self.cases: list[Case] = []

    def _folder(self, name: str) -> Path:
        folder = self.root / f"{len(self.cases):04d}-{name.replace('/', '_')}"
        folder.mkdir(parents=True)
        return folder

    def file(self, name, family, filename, data: bytes, expect="any", max_peak_mib=None, **kwargs) -> Path:
        """A case that is one file named ``filename`` holding ``data``."""
        path = self._folder(name) / filename
        path.write_bytes(bytes(data))
        self.cases.append(Case(name, family, str(path), kwargs, expect, max_peak_mib))
        return path

    def parts(self, name, family, parts: dict, entry=None, as_upload=False, expect="any", **kwargs):
        """A case made of several files; read as the folder, one ``entry`` file, or an upload."""
        folder = self._folder(name)
        for filename, data in parts.items():
            (folder / filename).write_bytes(bytes(data))
        if as_upload:
            source = [str(folder / n) for n in parts]
        else:
            source = str(folder / entry) if entry else str(folder)
        self.cases.append(Case(name, family, source, kwargs, expect))


# ----------------------------------------------------------------------------- byte surgery


def truncated(data: bytes, offsets) -> list[tuple[str, bytes]]:
    """``data`` cut at each offset (ints are bytes, floats fractions of the length)."""
    out = []
    for off in offsets:
        n = int(off * len(data)) if isinstance(off, float) else int(off)
        if 0 < n < len(data):
            out.append((f"{off}", data[:n]))
    return out


def flipped(data: bytes, positions, seed: int) -> bytes:
    """``data`` with each byte at ``positions`` XOR-ed by a random non-zero value."""
    rng = np.random.default_rng(seed)
    out = bytearray(data)
    for p in positions:
        out[p % len(out)] ^= int(rng.integers(1, 256))
    return bytes(out)


def edf_field(data: bytes, start: int, width: int, value) -> bytes:
    """``data`` with the ASCII header field at ``start`` set to ``value`` (space padded)."""
    text = str(value).encode("latin-1")[:width].ljust(width)
    return data[:start] + text + data[start + width:]


#: offset of each per-signal EDF field block, relative to byte 256, in units of n_signals
_EDF_SIGNAL_FIELDS = {"label": (0, 16), "physmin": (104, 8), "physmax": (112, 8),
                      "digmin": (120, 8), "digmax": (128, 8), "samples": (216, 8)}


def edf_signal_field(data: bytes, name: str, value, signal: int = 0) -> bytes:
    """``data`` with the per-signal field ``name`` of one signal set to ``value``."""
    n_signals = int(data[252:256].decode("ascii").strip())
    per, width = _EDF_SIGNAL_FIELDS[name]
    return edf_field(data, 256 + per * n_signals + width * signal, width, value)


def edf_bytes(n_signals: int, samples_per_record: int, n_records: int, record_s: float = 1.0,
              bdf: bool = False, seed: int = 0) -> bytes:
    """A plain, valid EDF (or BDF) file built by hand, for channel and sample counts MNE would not
    write quickly (e.g. 10,000 signals)."""
    def field_(value, width):
        return str(value).encode("ascii")[:width].ljust(width)

    head = (b"\xffBIOSEMI" if bdf else field_(0, 8)) + field_("X X X X", 80) + field_("Startdate X", 80)
    head += field_("01.01.00", 8) + field_("00.00.00", 8) + field_(256 * (n_signals + 1), 8)
    head += field_("24BIT" if bdf else "", 44) + field_(n_records, 8) + field_(f"{record_s:g}", 8)
    head += field_(n_signals, 4)
    digital = (-8388608, 8388607) if bdf else (-32768, 32767)
    columns = [
        [field_(f"E{i}", 16) for i in range(n_signals)], [field_("", 80)] * n_signals,
        [field_("uV", 8)] * n_signals, [field_(-500, 8)] * n_signals, [field_(500, 8)] * n_signals,
        [field_(digital[0], 8)] * n_signals, [field_(digital[1], 8)] * n_signals,
        [field_("", 80)] * n_signals, [field_(samples_per_record, 8)] * n_signals,
        [field_("", 32)] * n_signals,
    ]
    head += b"".join(b"".join(col) for col in columns)
    width = 3 if bdf else 2
    rng = np.random.default_rng(seed)
    body = rng.integers(0, 256, n_records * n_signals * samples_per_record * width, dtype=np.uint8)
    return head + body.tobytes()


def zipped(members: dict, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip holding ``members`` (name -> bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def csv_bytes(n_rows: int = 512, sfreq: float = 256.0, values=None, header=True) -> bytes:
    """A headset-style CSV export: timestamps, four channels, a marker column."""
    rng = np.random.default_rng(3)
    data = rng.normal(0, 20, (n_rows, 4)) if values is None else np.asarray(values, dtype=float)
    lines = ["timestamps,TP9,AF7,AF8,TP10,Marker"] if header else []
    for i, row in enumerate(data):
        lines.append(f"{i / sfreq:.6f}," + ",".join(f"{v}" for v in row) + f",{1 if i == 10 else 0}")
    return ("\n".join(lines) + "\n").encode()


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def fif_bytes(tmp: Path, data: np.ndarray, sfreq: float, names=None) -> bytes:
    """A FIF file written by MNE from an array (volts)."""
    import mne

    names = names or [f"EEG{i:03d}" for i in range(len(data))]
    raw = mne.io.RawArray(data, mne.create_info(names, sfreq, "eeg"), verbose="error")
    path = tmp / "made_raw.fif"
    raw.save(path, overwrite=True, verbose="error")
    blob = path.read_bytes()
    path.unlink()
    return blob


# ----------------------------------------------------------------------------- families

EXTENSIONS = [".edf", ".bdf", ".gdf", ".fif", ".fif.gz", ".vhdr", ".set", ".cnt", ".sqd", ".con",
              ".xdf", ".csv", ".tsv", ".txt", ".npz", ".zip", ".csv.gz", ".cdt", ".nwb", ".mef",
              ".egi", ".data", ".lay", ".nedf"]


def _edf_family(c: _Corpus, edf: bytes, tag: str) -> None:
    """Truncations, flips and lying header fields of one EDF file."""
    n_signals = int(edf[252:256].decode().strip())
    header = 256 * (n_signals + 1)
    cuts = [1, 100, 184, 255, 256, 300, header - 1, header, header + 1, header + 1000,
            0.1, 0.25, 0.33, 0.5, 0.66, 0.75, 0.9, 0.99]
    for label, data in truncated(edf, cuts):
        c.file(f"truncation/{tag}-cut-{label}", "truncation", "cut.edf", data)
    for i, (lo, hi) in enumerate([(0, 8), (168, 184), (184, 192), (236, 256), (256, header)] * 2):
        positions = np.random.default_rng(i).integers(lo, hi, 3)
        c.file(f"flip/{tag}-header-{lo}-{hi}-{i}", "flip", "flip.edf", flipped(edf, positions, i))
    for i in range(4):
        positions = np.random.default_rng(100 + i).integers(header, len(edf), 50)
        c.file(f"flip/{tag}-data-{i}", "flip", "flip.edf", flipped(edf, positions, 100 + i))
    lies = {
        "records-0": (236, 8, 0), "records-minus1": (236, 8, -1), "records-1": (236, 8, 1),
        "records-huge": (236, 8, 99999999), "records-text": (236, 8, "many"),
        "duration-0": (244, 8, 0), "duration-negative": (244, 8, -1), "duration-tiny": (244, 8, "1e-9"),
        "duration-huge": (244, 8, "1e9"), "duration-nan": (244, 8, "nan"), "duration-inf": (244, 8, "inf"),
        "signals-0": (252, 4, 0), "signals-10000": (252, 4, 10000), "signals-minus": (252, 4, -3),
        "signals-more": (252, 4, n_signals + 1), "header-bytes": (184, 8, 123),
        "header-huge": (184, 8, 99999999),
        "version": (0, 8, "XYZ"), "startdate": (168, 8, "99.99.99"), "starttime": (176, 8, "aa.bb.cc"),
    }
    must_fail = {"duration-0", "duration-negative", "duration-tiny", "duration-nan", "duration-inf",
                 "signals-0", "signals-10000", "signals-minus", "signals-more", "header-bytes",
                 "header-huge"}
    for label, (start, width, value) in lies.items():
        c.file(f"lying-header/{tag}-{label}", "lying-header", "lie.edf", edf_field(edf, start, width, value),
               expect="error" if label in must_fail else "any")
    signal_lies = {"samples-0": ("samples", 0), "samples-huge": ("samples", 999999999),
                   "samples-negative": ("samples", -5), "samples-text": ("samples", "abc"),
                   "phys-equal": ("physmax", -500), "dig-equal": ("digmax", -32768),
                   "phys-nan": ("physmin", "nan"), "dig-text": ("digmin", "low"),
                   "label-empty": ("label", ""), "label-binary": ("label", "\x01\x02\x7f")}
    for label, (name, value) in signal_lies.items():
        c.file(f"lying-header/{tag}-{label}", "lying-header", "lie.edf", edf_signal_field(edf, name, value))


def _edf_made(c: _Corpus) -> None:
    """Files built by hand: channel counts beyond the limit, absurd rates, one sample."""
    c.file("lying-header/edf-9999-channels", "lying-header", "wide.edf", edf_bytes(9999, 1, 2),
           expect="error")
    c.file("lying-header/edf-2000-channels", "lying-header", "wide.edf", edf_bytes(2000, 4, 2),
           expect="error")
    c.file("lying-header/edf-rate-1MHz", "lying-header", "fast.edf", edf_bytes(2, 1000, 1, record_s=0.001),
           expect="error")
    c.file("lying-header/edf-100-years", "lying-header", "long.edf",
           edf_field(edf_bytes(1, 1, 3), 244, 8, "1e9"), expect="error")
    c.file("lying-header/bdf-huge-records", "lying-header", "lie.bdf",
           edf_field(edf_bytes(3, 256, 4, bdf=True), 236, 8, 99999999))
    c.file("one-sample/edf-1-sample", "one-sample", "one.edf", edf_bytes(3, 1, 1), expect="error")
    c.file("one-sample/bdf-1-sample", "one-sample", "one.bdf", edf_bytes(3, 1, 1, bdf=True), expect="error")
    c.file("one-sample/edf-2-samples", "one-sample", "two.edf", edf_bytes(3, 1, 2))
    c.file("lying-header/edf-no-records", "lying-header", "none.edf", edf_bytes(3, 256, 0), expect="error")


def _brainvision_family(c: _Corpus, folder: Path, stem: str, tag: str, data_ext: str = ".eeg") -> None:
    """Missing parts, damaged header text, lying fields, truncated data of a BrainVision set."""
    vhdr = (folder / f"{stem}.vhdr").read_bytes()
    vmrk = (folder / f"{stem}.vmrk").read_bytes()
    eeg = (folder / f"{stem}{data_ext}").read_bytes()
    full = {f"{stem}.vhdr": vhdr, f"{stem}.vmrk": vmrk, f"{stem}{data_ext}": eeg}
    entry = f"{stem}.vhdr"

    def variant(**changes):
        parts = dict(full)
        parts.update(changes)
        return {k: v for k, v in parts.items() if v is not None}

    c.parts(f"missing-part/{tag}-no-eeg", "missing-part", variant(**{f"{stem}{data_ext}": None}), entry,
            expect="error")
    c.parts(f"missing-part/{tag}-no-eeg-upload", "missing-part", variant(**{f"{stem}{data_ext}": None}),
            as_upload=True, expect="error")
    c.parts(f"missing-part/{tag}-no-vmrk", "missing-part", variant(**{f"{stem}.vmrk": None}), entry)
    c.parts(f"missing-part/{tag}-no-vmrk-upload", "missing-part", variant(**{f"{stem}.vmrk": None}),
            as_upload=True)
    c.parts(f"missing-part/{tag}-only-eeg", "missing-part", {f"{stem}{data_ext}": eeg}, expect="error")
    c.parts(f"missing-part/{tag}-only-vmrk", "missing-part", {f"{stem}.vmrk": vmrk}, expect="error")
    c.parts(f"missing-part/{tag}-no-vhdr-upload", "missing-part", variant(**{entry: None}), as_upload=True,
            expect="error")
    text = vhdr.decode("utf-8", "replace")

    def replaced(pattern, value):
        import re

        return re.sub(pattern, value, text, count=1, flags=re.M).encode("utf-8")

    lies = {
        "channels-10000": (r"^NumberOfChannels=.*$", "NumberOfChannels=10000"),
        "channels-0": (r"^NumberOfChannels=.*$", "NumberOfChannels=0"),
        "channels-text": (r"^NumberOfChannels=.*$", "NumberOfChannels=lots"),
        "interval-0": (r"^SamplingInterval=.*$", "SamplingInterval=0"),
        "interval-negative": (r"^SamplingInterval=.*$", "SamplingInterval=-2"),
        "interval-1ns": (r"^SamplingInterval=.*$", "SamplingInterval=0.001"),
        "interval-1h": (r"^SamplingInterval=.*$", "SamplingInterval=3600000000"),
        "format-float": (r"^BinaryFormat=.*$", "BinaryFormat=IEEE_FLOAT_32"),
        "format-unknown": (r"^BinaryFormat=.*$", "BinaryFormat=INT_128"),
        "format-ascii": (r"^DataFormat=.*$", "DataFormat=ASCII"),
        "orientation": (r"^DataOrientation=.*$", "DataOrientation=SIDEWAYS"),
        "datafile-traversal": (r"^DataFile=.*$", "DataFile=../../../../etc/passwd"),
        "datafile-absolute": (r"^DataFile=.*$", "DataFile=/etc/hostname"),
        "datafile-other": (r"^DataFile=.*$", "DataFile=elsewhere.eeg"),
        "markerfile-other": (r"^MarkerFile=.*$", "MarkerFile=elsewhere.vmrk"),
        "markerfile-traversal": (r"^MarkerFile=.*$", "MarkerFile=../../../../etc/passwd"),
        "no-common-infos": (r"^\[Common Infos\]$", "[Uncommon Infos]"),
    }
    must_fail = {"channels-10000", "channels-0", "channels-text", "interval-0", "interval-negative",
                 "interval-1ns", "format-unknown", "datafile-traversal", "datafile-absolute",
                 "markerfile-traversal",
                 "datafile-other", "no-common-infos"}
    for label, (pattern, value) in lies.items():
        c.parts(f"lying-header/{tag}-{label}", "lying-header", variant(**{entry: replaced(pattern, value)}),
                entry, expect="error" if label in must_fail else "any")
    for label, data in truncated(vhdr, [10, 60, 0.3, 0.6, 0.9]):
        c.parts(f"truncation/{tag}-vhdr-{label}", "truncation", variant(**{entry: data}), entry)
    for label, data in truncated(eeg, [1, 37, 0.01, 0.5, 0.999]):
        c.parts(f"truncation/{tag}-eeg-{label}", "truncation", variant(**{f"{stem}{data_ext}": data}), entry)
    for label, data in truncated(vmrk, [5, 0.5]):
        c.parts(f"truncation/{tag}-vmrk-{label}", "truncation", variant(**{f"{stem}.vmrk": data}), entry)
    for i in range(3):
        positions = np.random.default_rng(200 + i).integers(0, len(vhdr), 4)
        c.parts(f"flip/{tag}-vhdr-{i}", "flip", variant(**{entry: flipped(vhdr, positions, 200 + i)}), entry)
        positions = np.random.default_rng(300 + i).integers(0, len(vmrk), 4)
        c.parts(f"flip/{tag}-vmrk-{i}", "flip", variant(**{f"{stem}.vmrk": flipped(vmrk, positions, i)}),
                entry)


def _fif_family(c: _Corpus, fif: bytes, tag: str) -> None:
    """Truncations and flips of a FIF file, as ``.fif`` and as ``.fif.gz``."""
    for label, data in truncated(fif, [4, 20, 100, 1000, 5000, 0.1, 0.3, 0.5, 0.7, 0.95, 0.999]):
        c.file(f"truncation/{tag}-cut-{label}", "truncation", "cut_raw.fif", data)
    for label, data in truncated(gzip.compress(fif, 1), [10, 0.5, 0.9]):
        c.file(f"truncation/{tag}-gz-cut-{label}", "truncation", "cut_raw.fif.gz", data)
    for i, (lo, hi) in enumerate([(0, 64), (0, 2000), (2000, 20000), (0, len(fif)), (0, len(fif))]):
        positions = np.random.default_rng(400 + i).integers(lo, min(hi, len(fif)), 6)
        c.file(f"flip/{tag}-{lo}-{hi}-{i}", "flip", "flip_raw.fif", flipped(fif, positions, 400 + i))


def _made_fif(c: _Corpus, tmp: Path) -> None:
    """FIF files MNE writes faithfully but that hold what no recording should."""
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1e-5, (4, 1000))
    nan = x.copy()
    nan[1, 100:200] = np.nan
    inf = x.copy()
    inf[2, 7] = np.inf
    inf[3, 9] = -np.inf
    c.file("nonfinite/fif-nan", "nonfinite", "nan_raw.fif", fif_bytes(tmp, nan, 250.0))
    c.file("nonfinite/fif-inf", "nonfinite", "inf_raw.fif", fif_bytes(tmp, inf, 250.0))
    c.file("nonfinite/fif-all-nan", "nonfinite", "allnan_raw.fif",
           fif_bytes(tmp, np.full((3, 500), np.nan), 250.0))
    c.file("nonfinite/fif-huge-values", "nonfinite", "huge_raw.fif", fif_bytes(tmp, x * 1e30, 250.0))
    c.file("one-sample/fif-1-sample", "one-sample", "one_raw.fif", fif_bytes(tmp, x[:, :1], 250.0),
           expect="error")
    c.file("one-sample/fif-1-channel-2-samples", "one-sample", "two_raw.fif",
           fif_bytes(tmp, x[:1, :2], 250.0))
    c.file("lying-header/fif-rate-1GHz", "lying-header", "fast_raw.fif", fif_bytes(tmp, x, 1e9),
           expect="error")
    c.file("lying-header/fif-rate-1mHz", "lying-header", "slow_raw.fif", fif_bytes(tmp, x, 1e-3),
           expect="error")
    c.file("lying-header/fif-2000-channels", "lying-header", "wide_raw.fif",
           fif_bytes(tmp, rng.normal(0, 1e-5, (2000, 3)), 100.0), expect="error")


def _text_family(c: _Corpus) -> None:
    """CSV / TSV / TXT / NPZ: non-finite values, one row, nonsense."""
    good = csv_bytes()
    vals = np.random.default_rng(4).normal(0, 20, (512, 4))
    for label, mutate in {"nan-cells": lambda v: v.__setitem__((slice(5, 50), 1), np.nan),
                          "inf-cells": lambda v: v.__setitem__((slice(5, 8), 2), np.inf),
                          "all-nan": lambda v: v.__setitem__(slice(None), np.nan),
                          "all-inf": lambda v: v.__setitem__(slice(None), -np.inf),
                          "huge": lambda v: v.__setitem__(slice(None), v * 1e300)}.items():
        v = vals.copy()
        mutate(v)
        c.file(f"nonfinite/csv-{label}", "nonfinite", "headset.csv", csv_bytes(values=v))
    c.file("nonfinite/csv-text-nan", "nonfinite", "headset.csv", good.replace(b",1,", b",NaN,", 40))
    c.file("one-sample/csv-1-row", "one-sample", "one.csv", csv_bytes(n_rows=1), expect="error")
    c.file("one-sample/csv-header-only", "one-sample", "head.csv", csv_bytes(n_rows=0), expect="error")
    c.file("one-sample/txt-1-value", "one-sample", "one.txt", b"42\n", expect="error", sfreq=100.0)
    c.file("one-sample/txt-no-rate", "one-sample", "many.txt", b"1\n2\n3\n4\n", expect="error")
    c.file("lying-header/csv-timestamps-constant", "lying-header", "flat.csv",
           b"timestamps,Cz\n" + b"".join(b"5.0,%d\n" % i for i in range(100)), expect="error")
    c.file("lying-header/csv-timestamps-backwards", "lying-header", "back.csv",
           b"timestamps,Cz\n" + b"".join(b"%d,%d\n" % (100 - i, i) for i in range(100)), expect="error")
    c.file("lying-header/csv-rate-1GHz", "lying-header", "fast.csv",
           b"timestamps,Cz\n" + b"".join(b"%.9f,%d\n" % (i * 1e-9, i % 7) for i in range(100)),
           expect="error")
    c.file("lying-header/csv-10000-columns", "lying-header", "wide.csv",
           (",".join(["timestamps"] + [f"c{i}" for i in range(10000)]) + "\n"
            + "".join(f"{t / 256}," + ",".join(["1"] * 10000) + "\n" for t in range(3))).encode(),
           expect="error")
    c.file("lying-header/csv-ragged", "lying-header", "ragged.csv",
           b"timestamps,A,B\n0,1,2\n0.01,1\n0.02,1,2,3,4,5\n0.03,1,2\n")
    c.file("lying-header/csv-quotes", "lying-header", "quotes.csv", b'timestamps,"A\n0,"1\n0.1,2\n' * 3)
    c.file("random/csv-binary", "random", "binary.csv", np.random.default_rng(8).bytes(5000))
    c.file("random/tsv-latin1", "random", "odd.tsv", "Zeit\tKanal\xe9\n".encode("latin-1") + b"0\t1\n" * 50)
    x = np.random.default_rng(6).normal(0, 20, (3, 400))
    bad = x.copy()
    bad[0, :10] = np.nan
    bad[1, 3] = np.inf
    npz = {
        "nan": (dict(data=bad, sf=200.0), "any"),
        "all-nan": (dict(data=np.full((2, 100), np.nan), sf=200.0), "any"),
        "rate-0": (dict(data=x, sf=0.0), "error"), "rate-nan": (dict(data=x, sf=np.nan), "error"),
        "rate-negative": (dict(data=x, sf=-256.0), "error"), "rate-huge": (dict(data=x, sf=1e12), "error"),
        "rate-array": (dict(data=x, sf=np.array([200.0, 100.0])), "error"),
        "rate-text": (dict(data=x, sf=np.array("fast")), "error"),
        "no-rate": (dict(data=x), "error"), "no-data": (dict(sf=200.0), "error"),
        "data-3d": (dict(data=x[None], sf=200.0), "error"),
        "data-empty": (dict(data=np.zeros((3, 0)), sf=200.0), "error"),
        "one-sample": (dict(data=x[:, :1], sf=200.0), "error"),
        "data-text": (dict(data=np.array([["a", "b"], ["c", "d"]]), sf=200.0), "error"),
        "data-complex": (dict(data=x.astype(complex), sf=200.0), "error"),
        "data-bool": (dict(data=x > 0, sf=200.0), "any"),
        "names-short": (dict(data=x, sf=200.0, chan=np.array(["a"])), "error"),
        "names-duplicate": (dict(data=x, sf=200.0, chan=np.array(["Cz", "Cz", "Cz"])), "any"),
        "10000-channels": (dict(data=np.zeros((10000, 4), np.float32), sf=200.0), "error"),
    }
    for label, (arrays, expect) in npz.items():
        c.file(f"nonfinite/npz-{label}", "nonfinite" if "nan" in label else "lying-header", "arr.npz",
               npz_bytes(**arrays), expect=expect)
    c.file("lying-header/npz-object-array", "lying-header", "pickled.npz",
           npz_bytes(data=np.array([{"a": 1}, None], dtype=object), sf=np.array(200.0)), expect="error")
    c.file("lying-header/npz-shape-lie", "lying-header", "lie.npz",
           zipped({"data.npy": _npy_shape_lie((99999, 99999999)), "sf.npy": _npy(np.array(200.0))},
                  zipfile.ZIP_STORED), expect="error", max_peak_mib=64)
    c.file("lying-header/npz-shape-lie-fits-memory", "lying-header", "lie.npz",
           zipped({"data.npy": _npy_shape_lie((64, 1_000_000)), "sf.npy": _npy(np.array(200.0))},
                  zipfile.ZIP_STORED), expect="error", max_peak_mib=64)
    bomb = npz_bytes(data=np.zeros((4, 2_000_000)), sf=np.array(200.0))  # 64 MB of zeros, zipped
    c.file("zip/npz-bomb", "zip", "bomb.npz", _deflated(bomb), expect="error", max_peak_mib=48,
           limits={"max_samples": 1_000_000})


def _npy_shape_lie(shape) -> bytes:
    """An .npy whose header claims ``shape`` (float64) but which holds 160 bytes of data."""
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {tuple(shape)}, }}"
    header = header.ljust(64 * ((len(header) + 10) // 64 + 1) - 11) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(160)


def _deflated(npz: bytes) -> bytes:
    """The members of an .npz archive, recompressed."""
    with zipfile.ZipFile(io.BytesIO(npz)) as archive:
        return zipped({m: archive.read(m) for m in archive.namelist()})


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _blank_family(c: _Corpus, edf: bytes, fif_gz: bytes) -> None:
    """Empty, zeros, random bytes under every extension; good files under wrong names."""
    rng = np.random.default_rng(7)
    for ext in EXTENSIONS:
        c.file(f"empty/{ext}", "empty", f"empty{ext}", b"", expect="error")
        c.file(f"zeros/{ext}", "zeros", f"zeros{ext}", bytes(4096), expect="error")
        c.file(f"random/{ext}", "random", f"random{ext}", rng.bytes(8192), expect="error")
    c.file("zeros/edf-1MiB", "zeros", "zeros.edf", bytes(2**20), expect="error")
    c.file("zeros/fif-1MiB", "zeros", "zeros_raw.fif", bytes(2**20), expect="error")
    c.file("zeros/edf-header-spaces", "zeros", "spaces.edf", b" " * 4096, expect="error")
    c.file("random/edf-header-then-random", "random", "mixed.edf", edf[:256] + rng.bytes(4096))
    c.file("random/edf-real-header-random-data", "random", "mixed.edf",
           edf[:256 * (int(edf[252:256]) + 1)] + rng.bytes(len(edf) // 3))
    for ext in (".fif", ".vhdr", ".csv", ".txt", ".npz", ".xdf", ".set", ".cnt", ".zip", ".gdf"):
        c.file(f"extension/edf-as-{ext}", "extension", f"eyes{ext}", edf, expect="error")
    c.file("extension/edf-as-bdf", "extension", "eyes.bdf", edf)
    c.file("extension/edf-no-extension", "extension", "eyes", edf, expect="error")
    c.file("extension/edf-upper-case", "extension", "EYES.EDF", edf)
    c.file("extension/edf-double", "extension", "eyes.edf.edf", edf)
    c.file("extension/edf-unknown", "extension", "eyes.eeg2", edf, expect="error")
    c.file("extension/fifgz-as-edf", "extension", "meg.edf", fif_gz, expect="error")
    c.file("extension/fifgz-as-fif", "extension", "meg_raw.fif", fif_gz)
    c.file("extension/fifgz-as-csvgz", "extension", "meg.csv.gz", fif_gz, expect="error")
    c.file("extension/csv-as-edf", "extension", "table.edf", csv_bytes(), expect="error")
    c.file("extension/csv-as-txt", "extension", "table.txt", csv_bytes())
    c.file("extension/zip-as-edf", "extension", "archive.edf", zipped({"eyes.edf": edf}), expect="error")
    c.file("extension/gz-of-edf", "extension", "eyes.edf.gz", gzip.compress(edf, 1))
    c.file("extension/name-with-control-chars", "extension", "ey\x1bes\t.edf", edf)


def _zip_family(c: _Corpus, edf: bytes, vhdr_parts: dict) -> None:
    """Hostile and odd archives."""
    small = {"max_bytes": 4 * 2**20}
    for label, name in {"parent": "../../evil.edf", "deep-parent": "a/../../b/evil.edf",
                        "absolute": "/tmp/evil.edf", "backslash": "..\\..\\evil.edf",
                        "drive": "C:/evil.edf", "drive-backslash": "C:\\Windows\\evil.edf"}.items():
        c.file(f"zip/traversal-{label}", "zip", "evil.zip", zipped({name: edf}), expect="error")
    c.file("zip/traversal-beside-good", "zip", "evil.zip",
           zipped({"eyes.edf": edf, "../escape.vmrk": b"x"}), expect="error")
    c.file("zip/nested", "zip", "nested.zip", zipped({"inner.zip": zipped({"eyes.edf": edf})}),
           expect="error")
    c.file("zip/nested-renamed", "zip", "nested.zip", zipped({"inner.edf": zipped({"eyes.edf": edf})}),
           expect="error")
    c.file("zip/nested-three-deep", "zip", "deep.zip",
           zipped({"a.zip": zipped({"b.zip": zipped({"eyes.edf": edf})})}), expect="error")
    c.file("zip/bomb-one-member", "zip", "bomb.zip", zipped({"big.csv": bytes(8 * 2**20)}),
           expect="error", limits=small)
    c.file("zip/bomb-many-members", "zip", "bomb.zip",
           zipped({f"part{i}.csv": bytes(2**20) for i in range(6)}), expect="error", limits=small)
    c.file("zip/bomb-lying-size", "zip", "bomb.zip", _zip_size_lie(bytes(8 * 2**20)),
           expect="error", limits=small)
    c.file("zip/bomb-declared-2GiB", "zip", "bomb.zip", _zip_size_lie(b"x" * 100, declared=2**31 - 1),
           expect="error")
    c.file("zip/too-many-files", "zip", "many.zip", zipped({f"f{i}.json": b"" for i in range(5100)},
                                                       zipfile.ZIP_STORED), expect="error")
    c.file("zip/gz-bomb", "zip", "bomb.csv.gz", gzip.compress(bytes(8 * 2**20), 9),
           expect="error", limits=small)
    c.file("zip/empty-archive", "zip", "empty.zip", zipped({}), expect="error")
    c.file("zip/only-folders", "zip", "dirs.zip", zipped({"a/": b"", "a/b/": b""}), expect="error")
    c.file("zip/two-recordings", "zip", "two.zip", zipped({"a.edf": edf, "b.edf": edf}), expect="error")
    c.file("zip/macosx-junk", "zip", "mac.zip", zipped({"eyes.edf": edf, "__MACOSX/._eyes.edf": b"\x00\x05"}))
    c.file("zip/stored-edf", "zip", "plain.zip", zipped({"deep/er/eyes.edf": edf}, zipfile.ZIP_STORED))
    c.file("zip/truncated", "zip", "cut.zip", zipped({"eyes.edf": edf})[:5000], expect="error")
    c.file("zip/truncated-end", "zip", "cut.zip", zipped({"eyes.edf": edf})[:-10], expect="error")
    c.file("zip/corrupt-member", "zip", "bad.zip", _corrupt_member(zipped({"eyes.edf": edf})), expect="error")
    c.file("zip/long-name", "zip", "long.zip", zipped({"x" * 300 + ".edf": edf}))
    c.file("zip/unicode-name", "zip", "uni.zip", zipped({"Schlaf_\u00fc\u00df\u2603.edf": edf}))
    c.file("zip/encrypted-flag", "zip", "locked.zip", _encrypted_flag(zipped({"eyes.edf": edf})),
           expect="error")
    parts = {k: v for k, v in vhdr_parts.items() if not k.endswith(".eeg")}
    c.file("zip/brainvision-no-eeg", "zip", "bv.zip", zipped(parts), expect="error")
    c.file("zip/brainvision-complete", "zip", "bv.zip", zipped({f"up/{k}": v for k, v in vhdr_parts.items()}))


def _zip_size_lie(content: bytes, declared: int | None = None) -> bytes:
    """A one-member zip whose headers state a size other than the content's (small, or ``declared``)."""
    blob = bytearray(zipped({"big.csv": content}))
    size = declared if declared is not None else 1000
    local = blob.find(b"PK\x03\x04")
    central = blob.find(b"PK\x01\x02")
    struct.pack_into("<I", blob, local + 22, size)
    struct.pack_into("<I", blob, central + 24, size)
    return bytes(blob)


def _corrupt_member(blob: bytes) -> bytes:
    """A zip whose compressed member bytes are damaged (the directory is intact)."""
    data = bytearray(blob)
    for p in range(200, 2000, 7):
        data[p] ^= 0x5A
    return bytes(data)


def _encrypted_flag(blob: bytes) -> bytes:
    """A zip whose member claims to be encrypted."""
    data = bytearray(blob)
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        struct.pack_into("<H", data, at + offset, struct.unpack_from("<H", data, at + offset)[0] | 1)
    return bytes(data)


# ----------------------------------------------------------------------------- real files


def _real_family(c: _Corpus, data_dir: Path) -> None:
    """Damaged copies of real recordings of ``../shared/data`` (formats brainkit meets in use)."""
    eegmat = (data_dir / "eegmat/Subject00_1.edf").read_bytes()
    _edf_family(c, eegmat, "real-eegmat")
    bdf = (data_dir / "formats/bdf/multiple_annotation_chans.bdf").read_bytes()
    for label, data in truncated(bdf, [300, 0.2, 0.5, 0.9]):
        c.file(f"truncation/real-bdf-{label}", "truncation", "cut.bdf", data)
    c.file("lying-header/real-bdf-records-huge", "lying-header", "lie.bdf", edf_field(bdf, 236, 8, 99999999))
    for i in range(3):
        positions = np.random.default_rng(500 + i).integers(0, 256 * 10, 4)
        c.file(f"flip/real-bdf-header-{i}", "flip", "flip.bdf", flipped(bdf, positions, 500 + i))
    _brainvision_family(c, data_dir / "formats/brainvision_mne", "test", "real-bv")
    fif = (data_dir / "meg/elekta_3ch_raw.fif").read_bytes()
    for label, data in truncated(fif, [100, 0.1, 0.5, 0.9]):
        c.file(f"truncation/real-elekta-{label}", "truncation", "cut_raw.fif", data)
    for name, rel, cuts in (("xdf", "formats/xdf/test.xdf", [4, 50, 0.3, 0.6, 0.95]),
                            ("cnt", "formats/neuroscan_cnt/scan41_short.cnt", [100, 899, 1000, 0.3, 0.8]),
                            ("ant", "formats/ant_eego_cnt/test_CA_208.cnt", [12, 0.3, 0.8]),
                            ("set", "eeglab_sample/eeglab_data.set", [100, 0.5])):
        src = data_dir / rel
        blob = src.read_bytes()
        for label, data in truncated(blob, cuts):
            c.file(f"truncation/real-{name}-{label}", "truncation", src.name, data)
        for i in range(2):
            positions = np.random.default_rng(600 + i).integers(0, min(len(blob), 4096), 5)
            c.file(f"flip/real-{name}-{i}", "flip", src.name, flipped(blob, positions, 600 + i))
    set_path = data_dir / "eeglab_sample/eeglab_data.set"
    fdt = (data_dir / "eeglab_sample/eeglab_data.fdt").read_bytes()
    c.parts("missing-part/real-set-no-fdt", "missing-part", {"eeglab_data.set": set_path.read_bytes()},
            "eeglab_data.set", expect="error")
    # an EEGLAB header naming a data file outside its folder (same length as the real name)
    outside = set_path.read_bytes().replace("eeglab_data.fdt".encode("utf-16-le"),
                                            "../aaaaaaaa.fdt".encode("utf-16-le"))
    (c.root / "aaaaaaaa.fdt").write_bytes(fdt)
    c.parts("lying-header/real-set-fdt-outside", "lying-header", {"eeglab_data.set": outside},
            "eeglab_data.set", expect="error")
    c.parts("truncation/real-set-fdt-half", "truncation",
            {"eeglab_data.set": set_path.read_bytes(), "eeglab_data.fdt": fdt[: len(fdt) // 2]},
            "eeglab_data.set")
    muse = next((data_dir / "muse/visual/P300").rglob("*.csv.gz")).read_bytes()
    text = gzip.decompress(muse)
    for label, data in truncated(muse, [20, 0.5]):
        c.file(f"truncation/real-muse-gz-{label}", "truncation", "muse.csv.gz", data)
    c.file("truncation/real-muse-csv-half-line", "truncation", "muse.csv", text[: len(text) // 2 + 3])
    nan_text = text.replace(b",", b",nan,", 1).replace(b"\n", b"\nnan,", 5)
    c.file("nonfinite/real-muse-nan", "nonfinite", "muse.csv", nan_text)
    npz = data_dir / "yasa_snippets/data_EOGs_REM_256Hz.npz"
    for label, data in truncated(npz.read_bytes(), [30, 0.5]):
        c.file(f"truncation/real-npz-{label}", "truncation", "yasa.npz", data, expect="error")


# ----------------------------------------------------------------------------- the corpus


def build_corpus(root: Path, samples: Path = SAMPLES, data_dir: Path | None = None) -> list[Case]:
    """Write every case under ``root``; real-file cases only when ``data_dir`` is given."""
    c = _Corpus(Path(root))
    edf = (samples / "eyes_open_closed.edf").read_bytes()
    fif_gz = (samples / "meg_evoked_raw.fif.gz").read_bytes()
    bv = {f"oddball_erp{e}": (samples / f"oddball_erp{e}").read_bytes() for e in (".vhdr", ".vmrk", ".eeg")}
    scratch = Path(root) / "_scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    if data_dir is None:
        _edf_family(c, edf, "eyes")
        _edf_made(c)
        _brainvision_family(c, samples, "oddball_erp", "oddball")
        _fif_family(c, gzip.decompress(fif_gz), "meg")
        _made_fif(c, scratch)
        _text_family(c)
        _blank_family(c, edf, fif_gz)
        _zip_family(c, edf, bv)
        c.file("truncation/sleep-edf-half", "truncation", "sleep.edf",
               (samples / "sleep_night.edf").read_bytes()[:600_000])
    else:
        _real_family(c, data_dir)
    shutil.rmtree(scratch)
    names = [case.name for case in c.cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return c.cases


# ----------------------------------------------------------------------------- running


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset this process's peak resident memory (Linux ``clear_refs``); False where impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def read_case(case: Case) -> dict:
    """Read one case in this process: outcome, message, seconds and peak memory growth."""
    import gc

    from brainkit.errors import BrainkitError
    from brainkit.io import Limits, read_recording

    kwargs = dict(case.kwargs)
    if "limits" in kwargs:
        kwargs["limits"] = Limits(**kwargs["limits"])
    gc.collect()
    exact = _reset_peak()
    before = _status_kib("VmRSS")
    start = time.perf_counter()
    message, problems = "", []
    try:
        recording = read_recording(case.source, **kwargs)
    except BrainkitError as err:
        outcome, message = "error", str(err)
    except BaseException as err:  # noqa: BLE001 - what the corpus is looking for
        outcome, message = "crash", f"{type(err).__name__}: {err}"
    else:
        outcome = "warnings" if recording.warnings else "clean"
        message = " | ".join(recording.warnings)
        problems = _recording_problems(recording)
        del recording
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM") - before
    return {"name": case.name, "family": case.family, "expect": case.expect, "outcome": outcome,
            "max_peak_mib": case.max_peak_mib, "message": message[:600], "problems": problems,
            "seconds": round(seconds, 3),
            "peak_mib": round(peak / 1024, 1), "peak_exact": exact}


def _recording_problems(recording) -> list[str]:
    """What is wrong with a Recording that was returned (it must be usable as it is)."""
    from brainkit.io import DEFAULT_LIMITS

    raw = recording.raw
    problems = []
    if raw.n_times < 2:
        problems.append(f"{raw.n_times} samples")
    if not np.isfinite(raw._data).all():
        problems.append("non-finite samples")
    if not 0 < recording.sfreq <= DEFAULT_LIMITS.max_sfreq:
        problems.append(f"rate {recording.sfreq}")
    if not 0 < len(raw.ch_names) <= DEFAULT_LIMITS.max_channels:
        problems.append(f"{len(raw.ch_names)} channels")
    if len(recording.sensors) != len(raw.ch_names):
        problems.append("sensors and channels differ")
    if raw.info["subject_info"] is not None:
        problems.append("subject info kept")
    try:
        json.dumps(recording.summary())
    except Exception as err:  # noqa: BLE001
        problems.append(f"summary fails: {type(err).__name__}")
    return problems


class StalledUpload:
    """A file-like upload whose bytes never arrive: reading it hangs (tests the harness's timeout)."""

    name = "stalled.edf"

    def read(self, size: int = -1) -> bytes:
        time.sleep(3600)
        return b""


def _worker(conn) -> None:
    """Say ``"ready"`` once warmed up, then read the cases sent through ``conn`` one by one until
    ``None`` arrives."""
    import mne

    from brainkit.io import read_recording

    mne.set_log_level("ERROR")
    read_recording(SAMPLES / "eyes_open_closed.edf")  # warm up: imports and montages load once
    conn.send("ready")
    while True:
        case = conn.recv()
        if case is None:
            return
        conn.send(read_case(case))


def run_corpus(cases: list[Case], workers: int = 2, timeout_s: float = CASE_TIMEOUT_S) -> list[dict]:
    """Read every case in worker processes; a case over ``timeout_s`` is killed and reported as a
    hang, a worker that dies is reported as a crash, and a fresh worker takes over.

    A case's clock starts when it is sent to a worker that has said it is ready, so a worker's
    start-up (a fresh interpreter, imports, a warm-up read) is never charged to a case.
    """
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")  # a clean interpreter: no threads or torch state inherited

    starting: dict = {}  # conn -> proc, until the worker says it is ready

    def start():
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child,), daemon=True)
        proc.start()
        child.close()
        starting[parent] = proc

    results: list[dict | None] = [None] * len(cases)
    todo = list(range(len(cases)))[::-1]
    idle: list = []  # (proc, conn) of ready workers
    for _ in range(max(1, workers)):
        start()
    busy: dict = {}  # conn -> (proc, index, started)
    while todo or busy:
        while todo and idle:
            proc, conn = idle.pop()
            index = todo.pop()
            conn.send(cases[index])
            busy[conn] = (proc, index, time.perf_counter())
        for conn in wait(list(busy) + list(starting), timeout=0.25):
            if conn in starting:
                proc = starting.pop(conn)
                try:
                    conn.recv()  # "ready"
                except (EOFError, OSError):
                    proc.join(1)
                    raise RuntimeError(f"a reading worker died while starting (exit code {proc.exitcode})")
                idle.append((proc, conn))
                continue
            proc, index, started = busy.pop(conn)
            try:
                results[index] = conn.recv()
                idle.append((proc, conn))
            except (EOFError, OSError):
                proc.join(1)
                results[index] = _failed(cases[index], "crash", f"worker died (exit code {proc.exitcode})",
                                         time.perf_counter() - started)
                start()
        now = time.perf_counter()
        for conn, (proc, index, started) in list(busy.items()):
            if now - started > timeout_s:
                proc.kill()
                proc.join(5)
                busy.pop(conn)
                results[index] = _failed(cases[index], "hang", f"still reading after {timeout_s:g} s",
                                         now - started)
                start()
    for proc, conn in idle + [(proc, conn) for conn, proc in starting.items()]:
        conn.send(None)
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    return results


def _failed(case: Case, outcome: str, message: str, seconds: float) -> dict:
    return {"name": case.name, "family": case.family, "expect": case.expect, "outcome": outcome,
            "max_peak_mib": case.max_peak_mib, "message": message, "problems": [],
            "seconds": round(seconds, 3), "peak_mib": None,
            "peak_exact": False}


def summarize(results: list[dict]) -> dict:
    """Counts per outcome, overall and per family."""
    counts = {k: 0 for k in ("cases", "error", "warnings", "clean", "crash", "hang")}
    families: dict[str, dict] = {}
    for r in results:
        counts["cases"] += 1
        counts[r["outcome"]] += 1
        fam = families.setdefault(r["family"], {"cases": 0})
        fam["cases"] += 1
        fam[r["outcome"]] = fam.get(r["outcome"], 0) + 1
    peaks = [r["peak_mib"] for r in results if r["peak_mib"] is not None]
    return {**counts, "max_seconds": max((r["seconds"] for r in results), default=0.0),
            "max_peak_mib": max(peaks, default=0.0), "families": families}


if __name__ == "__main__":  # python tests/malformed_cases.py [DATA_DIR]: build, run and print the counts
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(sys.argv[1]) if len(sys.argv) > 1 else None
        corpus = build_corpus(Path(tmp), data_dir=data)
        out = run_corpus(corpus)
        for r in out:
            print(json.dumps(r))
        print(json.dumps(summarize(out)))
