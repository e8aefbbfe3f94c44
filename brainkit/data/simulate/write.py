"""Writing the SIMULATED sample recordings: the same bytes on every run for a seed.

The measurement date is fixed (:data:`~brainkit.data.simulate.signals.MEAS_DATE`), every file
stores 16-bit integers (so last-bit differences between BLAS builds do not reach the file), the
machine id that MNE puts into FIF file and block ids is cleared, and the FIF file is
gzip-compressed without a time stamp.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from brainkit._logging import logger
from brainkit.data.simulate.eeg import simulate_eyes, simulate_oddball
from brainkit.data.simulate.meg import simulate_meg
from brainkit.data.simulate.signals import MEAS_DATE, UV
from brainkit.data.simulate.sleep import simulate_sleep

BRAINVISION_RESOLUTION_UV = 0.1
_FIFF_ID_STRUCT = 31  # FIF tag type of file / block ids


def write_samples(out_dir, *, seed: int = 0) -> list[Path]:
    """Write the four SIMULATED sample recordings; the same bytes on every run for a seed.

    ``eyes_open_closed.edf``, ``oddball_erp.vhdr`` (+ ``.vmrk``, ``.eeg``), ``sleep_night.edf``
    and ``meg_evoked_raw.fif.gz`` (gzip-compressed FIF, which MNE reads directly), each from the
    matching ``simulate_*`` function with its default length and rate.

    Parameters
    ----------
    out_dir : path-like
        Folder to write into (created if missing); existing files are overwritten.
    seed : int
        Seed of every random draw.

    Returns
    -------
    paths : list of pathlib.Path
        Every file written, sidecars included.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [_write_edf(simulate_eyes(seed=seed), out / "eyes_open_closed.edf")]
    paths += _write_brainvision(simulate_oddball(seed=seed), out / "oddball_erp.vhdr")
    paths.append(_write_edf(simulate_sleep(seed=seed), out / "sleep_night.edf",
                            add_ch_type=True))
    paths.append(_write_fif(simulate_meg(seed=seed), out / "meg_evoked_raw.fif.gz"))
    logger.info("wrote %d sample files to %s", len(paths), out)
    return paths


def _write_edf(raw, path, add_ch_type=False) -> Path:
    """EDF+ (16-bit); ``add_ch_type`` writes labels such as ``EEG C3-A2`` and ``EOG E1-M2``."""
    import mne

    mne.export.export_raw(path, raw, fmt="edf", add_ch_type=add_ch_type, overwrite=True,
                          verbose=False)
    return Path(path)


def _write_brainvision(raw, vhdr) -> list[Path]:
    """BrainVision, 16-bit in 0.1 uV steps; annotations become ``Comment`` markers."""
    from pybv import write_brainvision

    vhdr = Path(vhdr)
    sfreq = raw.info["sfreq"]
    data = raw.get_data()
    data += 0.5 * BRAINVISION_RESOLUTION_UV * UV * np.sign(data)  # pybv truncates: now it rounds
    events = [dict(onset=int(round(a["onset"] * sfreq)), duration=1,
                   description=a["description"], type="Comment") for a in raw.annotations]
    write_brainvision(data=data, sfreq=sfreq, ch_names=raw.ch_names, fname_base=vhdr.stem,
                      folder_out=vhdr.parent, events=events,
                      resolution=BRAINVISION_RESOLUTION_UV, unit="µV", fmt="binary_int16",
                      meas_date=MEAS_DATE, overwrite=True)
    return [vhdr.with_suffix(ext) for ext in (".vhdr", ".vmrk", ".eeg")]


def _write_fif(raw, path) -> Path:
    """FIF of 16-bit samples (step: each channel's ``cal``) with machine-independent ids.

    A name ending in ``.gz`` is compressed here (level 9, no time stamp in the gzip header)
    rather than by MNE, whose gzip header carries the time of writing.
    """
    import mne

    path = Path(path)
    plain = path.with_suffix("") if path.suffix == ".gz" else path
    cals = np.array([ch["cal"] * ch["range"] for ch in raw.info["chs"]])
    data = raw.get_data()
    data += 0.5 * cals[:, None] * np.sign(data)  # the writer truncates: now it rounds
    rounded = mne.io.RawArray(data, raw.info, verbose=False)
    rounded.set_annotations(raw.annotations)
    rounded.save(plain, fmt="short", overwrite=True, verbose=False)
    _clear_fif_ids(plain)
    if plain != path:
        path.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=9, mtime=0))
        plain.unlink()
    return path


def _clear_fif_ids(path) -> None:
    """Zero the machine id and time of every FIF id tag (file, block and parent ids).

    MNE stamps them with the writing computer's MAC address. A FIF file is a sequence of tags,
    each a big-endian (kind, type, size, next) int32 header and ``size`` bytes of data; an id
    tag has type 31 and holds (version, machid[0], machid[1], secs, usecs).
    """
    header = struct.Struct(">iiii")
    buf = bytearray(Path(path).read_bytes())
    pos = 0
    while pos + header.size <= len(buf):
        _, tag_type, size, _ = header.unpack_from(buf, pos)
        if tag_type == _FIFF_ID_STRUCT:
            struct.pack_into(">4i", buf, pos + header.size + 4, 0, 0, 0, 0)
        pos += header.size + size
    Path(path).write_bytes(bytes(buf))
