"""Where every sensor sits: position, orientation and kind, for any EEG cap or MEG system.

The tokenizer identifies sensors by physics, not by name, so this module turns whatever a file
says about its channels into a :class:`SensorArray`:

- **MEG** channels take position and coil normal from ``info["chs"][i]["loc"]``, moved from the
  device frame into the head frame with ``info["dev_head_t"]``.
- **EEG** channels take the recording's own montage when it has one; otherwise their name is
  looked up in MNE's template montage (``colin27_1005``, the 10-05 system, head frame).

How an EEG channel name is matched (the rule, in order):

1. Text around the electrode is dropped: surrounding spaces, trailing dots (``Fc5.``, ``Cz..``),
   a leading kind prefix (``EEG``, ``EEG:``, ``EEG-``) and a trailing reference suffix
   (``-REF``, ``-LE``, ``-RE``, ``-AR``, ``-AVG``, ``-CAR``; any case).
2. Case is ignored (``FP1`` = ``Fp1``), and the old 10-20 names are mapped to the new ones
   (``T3``/``T4``/``T5``/``T6`` -> ``T7``/``T8``/``P7``/``P8``).
3. A derivation ``X-Y`` (``C3-A1``, ``Fpz-Cz``) where both ends are known electrodes:
   when ``Y`` is a reference site (``A1``, ``A2``, ``M1``, ``M2``) the channel sits at ``X``; when
   both are scalp electrodes it sits at their midpoint, with its orientation the unit vector from
   ``Y`` to ``X`` (the direction the bipolar lead is sensitive to). Referential EEG channels have
   zero orientation.
   A name MNE made unique by a numbered suffix (``T8-P8-0``, ``T8-P8-1``: a file that lists
   ``T8-P8`` twice) is the name without it.
4. Anything else has no position: it gets NaN coordinates, ``has_position=False`` and a warning.
   The tokenizer then uses a learned "unknown position" embedding; nothing crashes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

#: Sensor kinds the model takes as input.
MODEL_KINDS = ("eeg", "mag", "grad")
#: Kinds that are listed but never given to the model.
OTHER_KINDS = ("eog", "ecg", "emg", "stim", "misc", "resp", "bio", "ref_meg")
_KIND_INDEX = {kind: i for i, kind in enumerate(MODEL_KINDS)}

TEMPLATE_MONTAGE = "colin27_1005"
_OLD_NAMES = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
_REFERENCE_SITES = {"A1", "A2", "M1", "M2"}
_PREFIX = re.compile(r"^(EEG|EOG|ECG|EMG)[\s:_\-]*", re.IGNORECASE)
_SUFFIX = re.compile(r"[\s_\-](REF|LE|RE|AR|AVG|CAR|REFERENCE)$", re.IGNORECASE)


@dataclass
class SensorArray:
    """The sensors of a recording, as the tokenizer sees them.

    Attributes
    ----------
    names : list of str, length C
        Channel names as in the file.
    kinds : list of str, length C
        ``eeg``, ``mag`` or ``grad`` for model inputs; ``eog``, ``ecg``, ``emg``, ``stim``,
        ``misc``, ... for channels that are listed but not modelled.
    pos : ndarray, shape (C, 3), float32
        Position in metres, head frame (x right, y nose, z up). NaN where unknown.
    ori : ndarray, shape (C, 3), float32
        Unit orientation (MEG coil normal, bipolar EEG lead direction) or zeros.
    has_position : ndarray, shape (C,), bool
        Whether ``pos`` is known.
    position_source : list of str, length C
        Where the position came from: ``file``, ``template``, ``derivation`` or ``none``.
    """

    names: list[str]
    kinds: list[str]
    pos: np.ndarray
    ori: np.ndarray
    has_position: np.ndarray
    position_source: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.pos = np.asarray(self.pos, dtype=np.float32).reshape(-1, 3)
        self.ori = np.asarray(self.ori, dtype=np.float32).reshape(-1, 3)
        self.has_position = np.asarray(self.has_position, dtype=bool)
        if not self.position_source:
            self.position_source = ["file" if h else "none" for h in self.has_position]
        n = len(self.names)
        if not (len(self.kinds) == n == len(self.pos) == len(self.ori) == len(self.has_position)):
            raise ValueError("SensorArray fields must all have one entry per channel")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def model_picks(self) -> np.ndarray:
        """Indices of the channels the model takes (kinds ``eeg``, ``mag``, ``grad``)."""
        return np.array([i for i, k in enumerate(self.kinds) if k in MODEL_KINDS], dtype=int)

    @property
    def kind_index(self) -> np.ndarray:
        """Integer kind per channel for the model (eeg=0, mag=1, grad=2; -1 for other kinds)."""
        return np.array([_KIND_INDEX.get(k, -1) for k in self.kinds], dtype=np.int64)

    def pick(self, idx) -> "SensorArray":
        """A new array holding the channels at ``idx`` (in that order)."""
        idx = np.asarray(idx, dtype=int)
        return SensorArray(
            names=[self.names[i] for i in idx],
            kinds=[self.kinds[i] for i in idx],
            pos=self.pos[idx],
            ori=self.ori[idx],
            has_position=self.has_position[idx],
            position_source=[self.position_source[i] for i in idx],
        )

    def to_records(self) -> list[dict]:
        """One dict per channel (name, kind, x/y/z in mm, orientation, position source)."""
        rows = []
        for i, name in enumerate(self.names):
            x, y, z = (self.pos[i] * 1000).tolist()
            ox, oy, oz = self.ori[i].tolist()
            rows.append({
                "name": name, "kind": self.kinds[i], "has_position": bool(self.has_position[i]),
                "position_source": self.position_source[i],
                "x_mm": x, "y_mm": y, "z_mm": z, "ori_x": ox, "ori_y": oy, "ori_z": oz,
            })
        return rows


def clean_eeg_name(name: str) -> str:
    """Strip what surrounds an electrode label: spaces, dots, kind prefix, reference suffix.

    ``"EEG FP1-REF"`` -> ``"FP1"``, ``"Fc5."`` -> ``"Fc5"``, ``"C3-A1"`` -> ``"C3-A1"``.
    """
    name = name.strip().strip(".").strip()
    name = _PREFIX.sub("", name)
    name = _SUFFIX.sub("", name)
    return name.strip(" .-_")


def electrode_key(name: str) -> str:
    """What two files' names of one electrode share: its label without kind prefix or reference
    suffix (:func:`clean_eeg_name`), an old 10-20 name as its 10-10 successor, lower case:
    ``"EEG T3-REF"``, ``"EEG T7-LE"`` and ``"t7"`` -> ``"t7"``."""
    label = clean_eeg_name(str(name)).upper()
    return _OLD_NAMES.get(label, label).lower()


@lru_cache(maxsize=1)
def _template_positions() -> dict[str, np.ndarray]:
    """Upper-cased electrode name -> head-frame position (m) from MNE's 10-05 template."""
    import mne

    montage = mne.channels.make_standard_montage(TEMPLATE_MONTAGE)
    info = mne.create_info(montage.ch_names, 256.0, "eeg")
    info.set_montage(montage)
    table = {ch["ch_name"].upper(): ch["loc"][:3].astype(np.float32).copy() for ch in info["chs"]}
    for old, new in _OLD_NAMES.items():
        table.setdefault(old, table[new])
    return table


def template_position(label: str) -> np.ndarray | None:
    """Head-frame position (m) of a single electrode label, or None if it is not in the template."""
    label = clean_eeg_name(label).upper()
    return _template_positions().get(_OLD_NAMES.get(label, label))


def eeg_position(name: str) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Position, orientation and source (``template``/``derivation``) of an EEG channel name.

    Returns None when the name does not match (see the module docstring for the rule).
    """
    label = clean_eeg_name(name)
    pos = template_position(label)
    if pos is not None:
        return pos, np.zeros(3, np.float32), "template"
    parts = [p for p in re.split(r"\s*-\s*", label) if p]
    if len(parts) > 1 and parts[-1].isdigit():  # MNE's mark of a repeated name: "T8-P8-1"
        return eeg_position("-".join(parts[:-1]))
    if len(parts) != 2:
        return None
    a, b = (template_position(p) for p in parts)
    if a is None or b is None:
        return None
    if clean_eeg_name(parts[1]).upper() in _REFERENCE_SITES:
        return a, np.zeros(3, np.float32), "template"
    direction = a - b
    norm = float(np.linalg.norm(direction))
    ori = direction / norm if norm > 0 else np.zeros(3, np.float32)
    return (a + b) / 2, ori.astype(np.float32), "derivation"


def _kind_of(info, i: int) -> str:
    import mne

    kind = mne.channel_type(info, i)
    return {"seeg": "eeg", "ecog": "eeg", "dbs": "eeg"}.get(kind, kind)


def _usable(vec: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(vec)) and np.any(vec != 0))


def sensors_from_info(info) -> tuple[SensorArray, list[str]]:
    """Build the :class:`SensorArray` of an MNE ``Info``.

    Parameters
    ----------
    info : mne.Info
        Measurement info of the recording (channel types should already be right).

    Returns
    -------
    sensors : SensorArray
        One entry per channel of ``info``, in order.
    warnings : list of str
        One line per EEG or MEG channel without a usable position.
    """
    from mne.transforms import apply_trans

    dev_head = info.get("dev_head_t")
    dev_head = None if dev_head is None else np.asarray(dev_head["trans"])
    names, kinds, pos, ori, has, source, missing = [], [], [], [], [], [], []
    warnings: list[str] = []
    for i, ch in enumerate(info["chs"]):
        name, kind = ch["ch_name"], _kind_of(info, i)
        loc = np.asarray(ch["loc"], dtype=np.float64)
        p, o, src = np.full(3, np.nan), np.zeros(3), "none"
        if kind in ("mag", "grad", "ref_meg") and _usable(loc[:3]):
            p, o, src = loc[:3], loc[9:12], "file"
            if dev_head is not None:
                p = apply_trans(dev_head, p)
                o = apply_trans(dev_head, o, move=False)
            o = o / (np.linalg.norm(o) or 1.0)
        elif kind == "eeg":
            if _usable(loc[:3]):
                p, src = loc[:3], "file"
            else:
                found = eeg_position(name)
                if found is not None:
                    p, o, src = found
        names.append(name)
        kinds.append(kind)
        pos.append(p)
        ori.append(o)
        has.append(src != "none")
        source.append(src)
        if kind in MODEL_KINDS and src == "none":
            missing.append(name)
    if any(k in ("mag", "grad") for k in kinds) and dev_head is None:
        warnings.append("MEG sensors are in the device frame: the file has no device-to-head transform")
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        warnings.append(
            f"{len(missing)} channel(s) without a known position ({shown}): the model uses a "
            "learned unknown-position embedding for them"
        )
    sensors = SensorArray(names, kinds, np.array(pos).reshape(-1, 3), np.array(ori).reshape(-1, 3),
                          np.array(has, bool), source)
    return sensors, warnings
