"""Classical baselines, run on the same windows and splits as the brainkit model.

- :func:`bandpower_logreg`: log band power (per channel when every recording of the task has the
  same channels, else mean and spread over channels) plus log robust scale, standardised,
  logistic regression. The baseline DESIGN.md says small EEG data favours.
- :func:`csp_lda` for motor imagery and :func:`xdawn_tangent` for the ERP tasks.
- :func:`yasa_staging`: YASA's pretrained sleep staging, applied unchanged (no training here).
  YASA loads its packaged LightGBM classifier with ``joblib`` (a pickle inside the ``yasa``
  wheel, trusted as much as the package's code); it runs only in this offline baseline, never in
  brainkit's own loading paths, which accept safetensors only.
"""

from __future__ import annotations

import numpy as np

from brainkit.data.corpora import TASK_WINDOWS, load_task
from brainkit.evaluation.metrics import classification_metrics


def channel_feature_array(x: np.ndarray, sfreq: float, scale: np.ndarray) -> np.ndarray:
    """Log band powers and log robust scale of every channel, (N, C, n_bands + 1): the features
    the decoder's channel tokens carry (:func:`brainkit.models.decoder.channel_features`)."""
    import torch

    from brainkit.models.decoder import BANDS_HZ, band_power_features, channel_features

    with torch.no_grad():
        bp = band_power_features(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                                 sfreq, BANDS_HZ)
        return channel_features(bp, torch.from_numpy(np.asarray(scale, dtype=np.float32))).numpy()


def _features(sets, per_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    feats, labels = [], []
    for s in sets:
        w = s.windows
        f = channel_feature_array(w.x, w.sfreq, w.scale)  # (N, C, B+1)
        f = f.reshape(len(f), -1) if per_channel else np.concatenate([f.mean(1), f.std(1)], -1)
        feats.append(f)
        labels.append(w.labels)
    return np.concatenate(feats), np.concatenate(labels)


def bandpower_logreg(task: str, data_dir=None) -> dict:
    """Train on the task's train split, report :func:`classification_metrics` on its val split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    answers = TASK_WINDOWS[task].answers
    train, val = load_task(task, data_dir, "train"), load_task(task, data_dir, "val")
    layouts = {tuple(s.windows.sensors.names) for s in train + val}
    per_channel = len(layouts) == 1
    x_tr, y_tr = _features(train, per_channel)
    x_va, y_va = _features(val, per_channel)
    index = {a: i for i, a in enumerate(answers)}
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000,
                                                               class_weight="balanced"))
    model.fit(x_tr, [index[y] for y in y_tr])
    proba = np.zeros((len(x_va), len(answers)))
    proba[:, model.classes_] = model.predict_proba(x_va)
    return classification_metrics([index[y] for y in y_va], proba, answers)


def _arrays(sets, answers):
    x = np.concatenate([s.windows.x for s in sets]).astype(np.float64)
    y = np.array([answers.index(a) for s in sets for a in s.windows.labels])
    return x, y


def _bandpass(x: np.ndarray, sfreq: float, lo: float, hi: float) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    return sosfiltfilt(butter(4, [lo, hi], btype="band", fs=sfreq, output="sos"), x, axis=-1)


def csp_lda(task: str = "motor_imagery", data_dir=None, n_components: int = 4) -> dict:
    """CSP (8-30 Hz) + LDA, the classical motor-imagery pipeline."""
    from mne.decoding import CSP
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline

    answers = TASK_WINDOWS[task].answers
    x_tr, y_tr = _arrays(load_task(task, data_dir, "train"), answers)
    x_va, y_va = _arrays(load_task(task, data_dir, "val"), answers)
    model = make_pipeline(CSP(n_components=n_components, reg="ledoit_wolf", log=True),
                          LinearDiscriminantAnalysis())
    model.fit(_bandpass(x_tr, 256.0, 8, 30), y_tr)
    return classification_metrics(y_va, model.predict_proba(_bandpass(x_va, 256.0, 8, 30)), answers)


def xdawn_tangent(task: str, data_dir=None, n_filters: int = 2) -> dict:
    """xDAWN covariances + tangent space + logistic regression (1-20 Hz), for ERP tasks."""
    from pyriemann.estimation import XdawnCovariances
    from pyriemann.tangentspace import TangentSpace
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    answers = TASK_WINDOWS[task].answers
    x_tr, y_tr = _arrays(load_task(task, data_dir, "train"), answers)
    x_va, y_va = _arrays(load_task(task, data_dir, "val"), answers)
    model = make_pipeline(XdawnCovariances(nfilter=n_filters, estimator="oas"),
                          TangentSpace(metric="riemann"),
                          LogisticRegression(max_iter=2000, class_weight="balanced"))
    model.fit(_bandpass(x_tr, 256.0, 1, 20), y_tr)
    return classification_metrics(y_va, model.predict_proba(_bandpass(x_va, 256.0, 1, 20)), answers)


#: YASA's stage names (classifier or Hypnogram spelling) -> brainkit answer
YASA_STAGES = {"W": "W", "WAKE": "W", "N1": "N1", "N2": "N2", "N3": "N3", "R": "REM", "REM": "REM"}


def yasa_staging(task: str = "sleep_stage", data_dir=None) -> dict:
    """YASA's pretrained staging of each validation night, scored on the task's 30-s epochs.

    Each recording is read at its own rate, unfiltered (YASA filters and resamples itself); its
    single EEG channel is staged; the epochs the task keeps (ties and movement dropped by
    :func:`brainkit.data.corpora.dreams_epochs`) are compared. A night recorded below YASA's minimum
    of 80 Hz (DREAMS excerpt 3: 50 Hz) is resampled to 100 Hz first; it has nothing above 25 Hz.
    """
    import yasa

    from brainkit.data.corpora import _data_dir, _text_rate
    from brainkit.io import read_recording

    answers = TASK_WINDOWS[task].answers
    root = _data_dir(data_dir)
    labels, probas = [], []
    for s in load_task(task, root, "val"):
        raw = read_recording(root / s.source, sfreq=_text_rate(s.source)).raw.copy()
        if raw.info["sfreq"] < 80:
            raw.resample(100.0)
        eeg = raw.copy().pick("eeg").ch_names[0]
        staging = yasa.SleepStaging(raw, eeg_name=eeg)
        proba = staging.predict().proba  # one row per 30-s epoch from the first sample
        epochs = np.round(np.asarray(s.windows.starts_s) / TASK_WINDOWS[task].window_s).astype(int)
        named = {YASA_STAGES[str(c).upper()]: proba[c].to_numpy() for c in proba.columns}
        probas.append(np.stack([named[a] for a in answers], 1)[epochs])  # (N, n_answers)
        labels += [answers.index(a) for a in s.windows.labels]
    return classification_metrics(labels, np.concatenate(probas), answers)


#: baseline name -> (function, tasks it applies to)
BASELINES = {
    "bandpower_logreg": (bandpower_logreg, tuple(TASK_WINDOWS)),
    "csp_lda": (csp_lda, ("motor_imagery",)),
    "xdawn_tangent": (xdawn_tangent, ("p300", "n170", "auditory_oddball")),
    "yasa_staging": (yasa_staging, ("sleep_stage",)),
}


def run_baselines(data_dir=None, tasks=None) -> dict:
    """{baseline: {task: metrics}} on the validation splits of ``brainkit.data.corpora``."""
    out: dict[str, dict] = {}
    for name, (fn, applies) in BASELINES.items():
        for task in applies:
            if tasks is None or task in tasks:
                out.setdefault(name, {})[task] = fn(task, data_dir)
    return out
