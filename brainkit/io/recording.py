"""Read any EEG or MEG recording into a de-identified :class:`Recording`.

:func:`read_recording` is the one entry point: the source becomes a file on disk
(:mod:`~brainkit.io.sources`), the reader its extension selects loads it within the size limits
(:mod:`~brainkit.io.readers`, :mod:`~brainkit.io.limits`), and the result is cleaned and
de-identified (:mod:`~brainkit.io.clean`).
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from brainkit._logging import logger, use_log_level
from brainkit.errors import BrainkitError
from brainkit.io.clean import clean
from brainkit.io.limits import DEFAULT_LIMITS, Limits
from brainkit.io.readers import READERS, read_file, suffix
from brainkit.io.sources import materialize, safe_name
from brainkit.quality import model_channels
from brainkit.sensors import MODEL_KINDS, SensorArray, sensors_from_info

MAX_NAMES_SHOWN = 8  #: channel names a warning lists before "and N more"


@dataclass
class Recording:
    """One recording, read and de-identified.

    Attributes
    ----------
    raw : mne.io.RawArray
        Preloaded signal in SI units (V, T, T/m), de-identified (see :mod:`brainkit.io.clean`).
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
    _decoded: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def annotations(self):
        return self.raw.annotations

    @property
    def decoded_channels(self) -> tuple:
        """``(picks, left_out)``: the EEG/MEG channels decoding reads and those it leaves out, with
        why (:func:`brainkit.quality.model_channels`); computed when first asked, again after the
        channels, the sensors or the channels marked bad change."""
        key = (tuple(self.raw.ch_names), id(self.sensors), tuple(self.raw.info["bads"]))
        if self._decoded is None or self._decoded[0] != key:
            self._decoded = (key, model_channels(self))
        return self._decoded[1]

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
            "n_model_channels": int(len(self.decoded_channels[0])),
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
    verbose : bool | str | int | None
        brainkit's log level during this call only (None: as it is).

    Returns
    -------
    Recording

    Raises
    ------
    BrainkitError
        For anything unreadable, with one line that names the problem.
    """
    with use_log_level(verbose), tempfile.TemporaryDirectory(prefix="brainkit-") as tmp:
        try:
            path, display = materialize(source, name, Path(tmp), limits)
            chatter = io.StringIO()  # some readers print; stdout belongs to the caller
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
            label = safe_name(name or getattr(source, "name", None) or (
                Path(source).name if isinstance(source, (str, Path)) else "upload"))
            folders = [tmp, str(Path(tmp).resolve())] + _folders(source)
            raise BrainkitError(_failure(label, err, folders)) from None


def recording_from_raw(raw, name: str = "recording", fmt: str = "MNE Raw") -> Recording:
    """Wrap an MNE Raw made in memory the way files are read.

    Kinds fixed by name, de-identified, non-finite samples cleaned, sensors found (e.g. for the
    recordings of :mod:`brainkit.data.simulate`).

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording; not modified.
    name : str
        Name to show for it.
    fmt : str
        Its ``Recording.format``.

    Returns
    -------
    Recording
    """
    warnings: list[str] = []
    raw = clean(raw.copy().load_data(verbose="error"), warnings, rescale=False)
    sensors, sensor_warnings = sensors_from_info(raw.info)
    return _note_left_out(Recording(raw=raw, sensors=sensors, format=fmt, name=name,
                                    warnings=warnings + sensor_warnings))


def _read_path(path: Path, display: str, sfreq: float | None, limits: Limits) -> Recording:
    warnings: list[str] = []
    raw, fmt = read_file(path, sfreq, limits, warnings)
    return finish_recording(raw, fmt, display, warnings)


def finish_recording(raw, fmt: str, display: str, warnings: list[str]) -> Recording:
    """A :class:`Recording` from a loaded Raw a reader returned: cleaned, de-identified, its sensors
    found (``warnings`` holds the reader's notes; more are added)."""
    raw = clean(raw, warnings)
    sensors, sensor_warnings = sensors_from_info(raw.info)
    warnings.extend(sensor_warnings)
    if not any(k in MODEL_KINDS for k in sensors.kinds):
        warnings.append("no EEG or MEG channel: nothing the model can read")
    logger.info("read %s (%s): %d channels, %.1f s at %g Hz", display, fmt, len(sensors),
                raw.n_times / raw.info["sfreq"], raw.info["sfreq"])
    truncated = any(w.startswith("file is truncated") for w in warnings)
    return _note_left_out(Recording(raw=raw, sensors=sensors, format=fmt, name=display,
                                    warnings=warnings, truncated=truncated))


def _note_left_out(recording: Recording) -> Recording:
    """Add a warning naming the EEG/MEG channels decoding leaves out (flat, or marked bad in the
    file: :func:`brainkit.quality.model_channels`); returns the recording."""
    left_out = recording.decoded_channels[1]
    if left_out:
        names = list(left_out)
        shown = ", ".join(names[:MAX_NAMES_SHOWN]) + (f" and {len(names) - MAX_NAMES_SHOWN} more"
                                                       if len(names) > MAX_NAMES_SHOWN else "")
        recording.warnings.append(f"{len(names)} channel(s) left out of decoding, "
                                  f"{' or '.join(sorted(set(left_out.values())))}: {shown}")
    return recording


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
    reader = READERS.get(suffix(Path(label)))
    return (f"could not read {label}: not a valid {reader.format if reader else 'recording'} file, "
            f"or damaged ({detail[:300]})")
