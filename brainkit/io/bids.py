"""BIDS datasets (EEG, MEG, iEEG) read with MNE-BIDS: their recordings and each one as a
:class:`~brainkit.io.Recording`.

A folder is a BIDS root when it holds ``dataset_description.json``. Its recordings are found by
MNE-BIDS (subjects, sessions, tasks, runs, in the ``eeg``, ``meg`` and ``ieeg`` folders; not
``derivatives`` or ``sourcedata``) and read by ``mne_bids.read_raw_bids``, which takes channel
kinds from ``channels.tsv`` and puts ``events.tsv`` in the annotations; the signal then goes
through the same size limits, cleaning and de-identification as any file.
"""

from __future__ import annotations

from pathlib import Path

from brainkit._logging import logger
from brainkit.errors import BrainkitError
from brainkit.io.limits import DEFAULT_LIMITS, Limits, check_limits
from brainkit.io.readers import READERS, suffix

#: the data types whose recordings brainkit reads
DATATYPES = ("eeg", "meg", "ieeg")
#: folders of a BIDS root that hold no raw recordings
_NOT_RAW = ("derivatives", "sourcedata", "code")


def is_bids_root(path) -> bool:
    """True when ``path`` is a folder with a ``dataset_description.json`` (a BIDS root)."""
    return (Path(path) / "dataset_description.json").is_file()


def bids_recordings(root) -> list[Path]:
    """The data files (or ``.ds`` folders) of every EEG, MEG and iEEG recording of a BIDS root.

    One per recording: a split FIF counts once (its first part), sidecars are left out.
    """
    import mne_bids

    root = Path(root)
    found = mne_bids.find_matching_paths(root, datatypes=list(DATATYPES), suffixes=list(DATATYPES),
                                         extensions=[e for e in mne_bids.config.reader if
                                                     suffix(Path("x" + e)) in READERS],
                                         ignore_json=True, ignore_nosub=True)
    paths = []
    for bids_path in found:
        path = Path(bids_path.fpath)
        if bids_path.split not in (None, "01") or path.relative_to(root).parts[0] in _NOT_RAW:
            continue
        paths.append(path)
    return sorted(set(paths))


def read_bids(path, root, limits: Limits = DEFAULT_LIMITS):
    """Read one recording of a BIDS dataset with MNE-BIDS.

    Parameters
    ----------
    path : str | Path
        Its data file (e.g. ``sub-01/eeg/sub-01_task-rest_eeg.edf``), as :func:`bids_recordings`.
    root : str | Path
        The dataset's root.
    limits : Limits
        Largest channel count, duration and rate accepted (checked before the data loads).

    Returns
    -------
    Recording
        Annotations from ``events.tsv``; format ``BIDS <format of the data file>``.

    Raises
    ------
    BrainkitError
        One line naming the file and the problem.
    """
    import mne_bids

    from brainkit.io.recording import finish_recording

    path, root = Path(path), Path(root)
    name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    try:
        bids_path = mne_bids.get_bids_path_from_fname(path)
        bids_path.update(root=root)
        raw = mne_bids.read_raw_bids(bids_path, verbose="error")
        check_limits(len(raw.ch_names), raw.info["sfreq"], raw.n_times, limits)
        raw.load_data(verbose="error")
    except BrainkitError:
        raise
    except MemoryError:
        raise BrainkitError(f"{name} does not fit in memory") from None
    except Exception as err:  # MNE-BIDS and the readers raise anything on a damaged dataset
        logger.debug("BIDS reader failed", exc_info=True)
        detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise BrainkitError(f"could not read {name} as BIDS ({detail.replace(str(root) + '/', '')[:300]})") \
            from None
    reader = READERS.get(suffix(path))
    return finish_recording(raw, f"BIDS {reader.format if reader else suffix(path)}", path.name, [])
