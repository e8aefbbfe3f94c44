"""What a user hands over, turned into one recording's entry point on disk.

A source is a path (file or folder), bytes or a file-like object plus its file name (what an
upload gives), several files of one multi-file recording (``.vhdr`` + ``.vmrk`` + ``.eeg``), or
a ``.zip`` holding them. Archives are unpacked safely (no paths outside the archive, bounded
size and count), gzip-compressed text exports are decompressed, file names are made safe, and
:func:`find_entry` picks the one file (or ``.mff``/``.ds`` folder) whose reader opens the rest.
"""

from __future__ import annotations

import gzip
import io
import re
import shutil
import zipfile
import zlib
from pathlib import Path

from brainkit.errors import BrainkitError
from brainkit.io.limits import Limits, mib
from brainkit.io import bci2000, nihon
from brainkit.io.readers import FOLDER_FORMATS, READERS, suffix, supported_formats

#: entry points that are only chosen when nothing else is there (a table beside an EDF is a note)
_TEXT = (".txt", ".csv", ".tsv")
#: text files of an archive that document it (never a recording)
_DOCUMENTS = ("README", "LICENSE", "CHANGES")


def _data_part(path: Path) -> bool:
    """A ``.eeg`` or ``.dat`` that holds the samples of a header beside it (BrainVision, Curry)."""
    return nihon.is_data_part(path) or bci2000.is_data_part(path)


def safe_name(name: str) -> str:
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
        raise BrainkitError(f"file is larger than the {mib(limits)} MiB limit")
    return data


def _extract_zip(data_or_path, dest: Path, limits: Limits) -> None:
    """Extract a zip safely: no absolute or parent paths, no nested zips, bounded size and count."""
    try:
        archive = zipfile.ZipFile(data_or_path if isinstance(data_or_path, Path)
                                  else io.BytesIO(data_or_path))
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
                                f"{mib(limits)} MiB limit")
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
                raise BrainkitError(f"zip entry {safe_name(member.filename)} is password-protected; "
                                    "brainkit reads unencrypted archives only")
            target = dest.joinpath(*[safe_name(p) for p in parts])
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(member) as src:
                    written = _copy_bounded(src, target, written, limits, "zip")
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
                raise BrainkitError(f"zip entry {safe_name(member.filename)} is damaged ({err})") from None


def _copy_bounded(src, target: Path, written: int, limits: Limits, what: str) -> int:
    """Copy a decompressing stream to ``target``; returns the bytes unpacked so far (``written``
    counts what came before). Refuses more than the size limit, whatever the header said."""
    with open(target, "wb") as out:
        while chunk := src.read(1 << 20):
            written += len(chunk)
            if written > limits.max_bytes:  # the header lied about sizes (zip bomb)
                raise BrainkitError(f"{what} unpacks to more than the {mib(limits)} MiB limit; refused")
            out.write(chunk)
    return written


def _gunzip(path: Path, limits: Limits) -> Path:
    """Decompress ``x.csv.gz`` to ``x.csv`` beside it, bounded by the size limit."""
    target = path.with_suffix("")
    try:
        with gzip.open(path, "rb") as src:
            _copy_bounded(src, target, 0, limits, path.name)
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise BrainkitError(f"{path.name} is not a readable gzip file ({err})") from None
    path.unlink()
    return target


def _gzipped_text(path: Path) -> bool:
    """A ``.gz`` that brainkit decompresses itself (MNE reads ``.fif.gz`` directly)."""
    return path.name.lower().endswith(".gz") and suffix(path) != ".fif.gz"


def materialize(source, name, workdir: Path, limits: Limits) -> tuple[Path, str]:
    """Turn any source into a recording's entry point on disk.

    Parameters
    ----------
    source : str | Path | bytes | file-like | list
        See :func:`brainkit.io.read_recording`.
    name : str | None
        File name of a bytes or file-like source.
    workdir : Path
        An empty folder for uploaded and unpacked files.
    limits : Limits
        Largest file, archive content and file count.

    Returns
    -------
    path : Path
        The entry point (a file, or an ``.mff``/``.ds`` folder).
    display : str
        The name to show for the recording (no folder).
    """
    if isinstance(source, (str, Path)) and not (isinstance(source, str) and "\x00" in source):
        return _from_path(Path(source), workdir, limits)
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
        names.append(safe_name(item_name))
        target = workdir / names[-1]
        if target.suffix.lower() == ".zip":
            _extract_zip(data, workdir, limits)
        else:
            target.write_bytes(data)
            if _gzipped_text(target):
                _gunzip(target, limits)
    display = name or (names[0] if len(names) == 1 else "+".join(names))
    return find_entry(workdir), safe_name(display)


def _from_path(path: Path, workdir: Path, limits: Limits) -> tuple[Path, str]:
    """A path given by the user: used in place unless it is a zip or a gzipped export."""
    if not path.exists():
        raise BrainkitError(f"no such file or folder: {path}")
    if path.is_file() and path.stat().st_size > limits.max_bytes:
        raise BrainkitError(f"{path.name} is larger than the {mib(limits)} MiB limit")
    if path.is_file() and suffix(path) == ".zip":
        _extract_zip(path, workdir, limits)
        return find_entry(workdir), path.name
    if path.is_file() and _gzipped_text(path):
        copy = workdir / safe_name(path.name)
        shutil.copyfile(path, copy)
        return _gunzip(copy, limits), path.name
    if path.is_dir() and suffix(path) not in FOLDER_FORMATS:
        return find_entry(path), path.name
    return path, path.name


def find_entry(folder: Path) -> Path:
    """The one recording entry point in a folder of extracted or uploaded files."""
    candidates = []
    for path in sorted(folder.rglob("*")):
        if any(p.suffix.lower() in FOLDER_FORMATS for p in path.relative_to(folder).parents
               if str(p) != "."):
            continue  # inside a folder-format recording
        ext = suffix(path)
        if path.is_dir() and ext in FOLDER_FORMATS:
            candidates.append(path)
        elif path.is_file() and ext in READERS:
            candidates.append(path)
    if not candidates:
        present = sorted({suffix(p) or p.name for p in folder.rglob("*") if p.is_file()})
        raise BrainkitError(f"no recording found among the files ({', '.join(present) or 'none'}); "
                            f"supported: {supported_formats()}")
    entries = [c for c in candidates if suffix(c) not in _TEXT and not _data_part(c)] or candidates
    if len(entries) > 1:
        shown = ", ".join(e.name for e in entries[:5])
        raise BrainkitError(f"{len(entries)} recordings found ({shown}): give one at a time")
    return entries[0]


def list_recordings(folder) -> list[Path]:
    """The recording entry points in a folder, sorted by name.

    One per recording: ``x.vhdr``, not its ``.eeg``; folder formats (``.mff``, ``.ds``) count as
    one entry; ``x.csv.gz`` counts as a CSV export. An empty list for a folder that is not there.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(folder.iterdir()):
        name = path.name.lower()
        ext = suffix(path)
        if name.endswith(".gz") and ext not in READERS:
            ext = suffix(Path(name[:-3]))
        if ext in READERS and (path.is_file() or ext in FOLDER_FORMATS) and not _data_part(path):
            entries.append(path)
    return entries


def find_recordings(root, skip=()) -> list[Path]:
    """Every recording entry point under a folder, at any depth, sorted by path.

    One per recording, as :func:`list_recordings` (companions such as ``.vmrk``, ``.fdt``, a
    BrainVision ``.eeg`` or Nihon Kohden's ``.21E`` are not entries; ``.mff``/``.ds`` folders
    count once); a ``.zip`` is one recording; a text table beside a recording of the same name is
    a note, not a recording, and so are ``README*``, ``LICENSE*``, ``CHANGES*`` text files. Hidden
    files and folders and the folders in ``skip`` are left out.
    """
    root = Path(root)
    skip = {Path(s).resolve() for s in skip}
    entries = []
    for folder in [root] + sorted(p for p in root.rglob("*") if p.is_dir()):
        rel = folder.relative_to(root).parts
        if (any(part.startswith(".") or suffix(Path(part)) in FOLDER_FORMATS for part in rel)
                or folder.resolve() in skip or any(s in folder.resolve().parents for s in skip)):
            continue  # hidden, skipped, or inside a folder-format recording
        found = list_recordings(folder) + sorted(folder.glob("*.zip")) + sorted(folder.glob("*.ZIP"))
        found = [p for p in found if not p.name.startswith(".") and (p.is_file() or p not in skip)]
        stems = {p.name.split(".")[0] for p in found if suffix(p) not in _TEXT}
        entries += [p for p in found if suffix(p) not in _TEXT or (
            p.name.split(".")[0] not in stems and not p.name.upper().startswith(_DOCUMENTS))]
    return sorted(set(entries))
