"""What every recording goes through after its reader: channel kinds, de-identification, units
and non-finite samples.

De-identification removes subject info (name, birth date, identifiers, sex, hand), experimenter,
description, project, device and helium serials, file/measurement ids, the original file names
and every reader-specific header field; the measurement date is set to 2000-01-01 (time of day
kept). Only the signal, channel names, kinds, positions, rate and annotations remain.
"""

from __future__ import annotations

import re

import numpy as np

#: channel name -> kind, for channels that exports label as EEG
_NAME_KINDS = [
    # clinical exports prefix every name with its kind ("EEG EKG1-REF", "EEG LOC-REF": TUH)
    (re.compile(r"\b(ECG|EKG)\d*\b", re.I), "ecg"),
    (re.compile(r"\bEOG|^(EEG\s*)?(LOC|ROC|HEOG|VEOG)\b", re.I), "eog"),
    (re.compile(r"\bEMG|^(EEG\s*)?CHIN", re.I), "emg"),
    (re.compile(r"^(STI|STATUS|TRIG|TRIGGER|MARKER|EVENT)", re.I), "stim"),
    (re.compile(r"\bAUX\b|^(RESP|SAO2|SPO2|PULSE|PLETH|PHOTIC|LIGHT|NAF|VAB|THOR|ABDO|POS|TEMP|"
                r"HR|BURSTS|IBI|SUPPR|PATIENT EVENT|HYPNO|PHONO|VTH|PR$|SNORE|FLOW|LEG|PLM|VNS)",
                re.I), "misc"),
    (re.compile(r"^-+\d*$"), "misc"),  # a placeholder without a name ("-", "--0": CHB-MIT's spacers)
]
_REFERENCE_PAIR = re.compile(r"^(EEG\s*)?(A1|A2|M1|M2)\s*-\s*(A1|A2|M1|M2)$", re.I)
#: above this robust amplitude (V), electrode values can only be microvolts
_MAX_VOLTS = 0.05


def clean(raw, warnings: list[str], *, rescale: bool = True):
    """Kinds fixed by name, de-identified, non-finite samples zeroed, microvolts rescaled.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        A loaded recording, as its reader gave it; its channel kinds are fixed in place.
    warnings : list of str
        One line is appended for each thing that was changed.
    rescale : bool
        Whether to rescale electrode channels whose values are only possible as microvolts
        (files read from disk; a Raw made in memory is trusted).

    Returns
    -------
    raw : mne.io.RawArray
        A new recording holding only signal, channels and annotations.
    """
    _fix_kinds(raw)
    raw = deidentified(raw)
    _clean_samples(raw, warnings)
    if rescale:
        _fix_units(raw, warnings)
    return raw


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


def deidentified(raw):
    """A new RawArray holding only signal, channels and annotations: nothing else survives."""
    import mne

    info = raw.info.copy()
    with info._unlock():
        for key in ("subject_info", "experimenter", "description", "proj_name", "proj_id",
                    "device_info", "helium_info", "file_id", "meas_id", "hpi_subsystem",
                    "utc_offset", "xplotter_layout", "gantry_angle"):
            info[key] = None
        info["hpi_results"] = []
        info["hpi_meas"] = []
    meas_date = raw.info["meas_date"]
    clean_raw = mne.io.RawArray(raw.get_data(), info, first_samp=0, verbose="error")
    ann = raw.annotations
    onsets = ann.onset - (raw.first_samp / raw.info["sfreq"] if ann.orig_time is not None else 0.0)
    new_date = None if meas_date is None else meas_date.replace(year=2000, month=1, day=1)
    clean_raw.set_meas_date(new_date)
    clean_raw.set_annotations(mne.Annotations(onsets, ann.duration, [str(d) for d in ann.description],
                                              orig_time=new_date, ch_names=ann.ch_names))
    return clean_raw


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
        if np.nanpercentile(np.abs(x - np.nanmedian(x)), 95) > _MAX_VOLTS:
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
