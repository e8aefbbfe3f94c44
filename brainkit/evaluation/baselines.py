"""Classical baselines, fitted and scored on exactly the windows brainkit is scored on.

Every baseline is a function ``fit_predict(train, test) -> probabilities`` over lists of
:class:`brainkit.data.corpora.LabelledSet` of one task, so that cross-validation
(:mod:`brainkit.evaluation.crossval`) runs brainkit and every baseline in the same folds, and the
fixed train/validation split (:func:`run_baselines`) is one fold among others.

- :func:`bandpower_logreg`: log band power (per channel when every recording of the task has the
  same channels, else mean and spread over channels) plus log robust scale, standardised,
  logistic regression. The baseline DESIGN.md says small EEG data favours.
- :func:`posterior_alpha`: relative alpha power over the posterior channels, one threshold
  (logistic regression on one number): the clinician's rule for closed eyes.
- :func:`csp_lda` for motor imagery and :func:`xdawn_tangent` for the ERP tasks.
- :func:`yasa_staging`: YASA's pretrained sleep staging, applied unchanged (no training here).
  YASA loads its packaged LightGBM classifier with ``joblib`` (a pickle inside the ``yasa``
  wheel, trusted as much as the package's code); it runs only in this offline baseline, never in
  brainkit's own loading paths, which accept safetensors only.
"""

from __future__ import annotations

import numpy as np

from brainkit.evaluation.metrics import classification_metrics
from brainkit.tasks import get_task


def labels_of(sets, task: str) -> np.ndarray:
    """Answer index of every window of ``sets``, in order, shape (N,)."""
    answers = get_task(task).answers
    return np.array([answers.index(a) for s in sets for a in s.windows.labels], dtype=int)


def _proba(model, x, n_answers: int) -> np.ndarray:
    """``predict_proba`` spread over all answers (classes absent from training get 0)."""
    proba = np.zeros((len(x), n_answers))
    proba[:, model.classes_] = model.predict_proba(x)
    return proba


def _logreg():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000,
                                                              class_weight="balanced"))


def channel_feature_array(x: np.ndarray, sfreq: float, scale: np.ndarray) -> np.ndarray:
    """Log band powers and log robust scale of every channel, (N, C, n_bands + 1): the features
    the decoder's channel tokens carry (:func:`brainkit.models.spectral.channel_features`)."""
    import torch

    from brainkit.models.spectral import BANDS_HZ, band_power_features, channel_features

    with torch.no_grad():
        bp = band_power_features(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                                 sfreq, BANDS_HZ)
        return channel_features(bp, torch.from_numpy(np.asarray(scale, dtype=np.float32))).numpy()


def _bandpower_features(sets, per_channel: bool) -> np.ndarray:
    feats = []
    for s in sets:
        f = channel_feature_array(s.windows.x, s.windows.sfreq, s.windows.scale)  # (N, C, B+1)
        feats.append(f.reshape(len(f), -1) if per_channel else np.concatenate([f.mean(1), f.std(1)], -1))
    return np.concatenate(feats)


def bandpower_logreg(train, test, task: str) -> np.ndarray:
    """Band power + logistic regression; per-channel features when all recordings share a layout."""
    layouts = {tuple(s.windows.sensors.names) for s in list(train) + list(test)}
    per_channel = len(layouts) == 1
    model = _logreg().fit(_bandpower_features(train, per_channel), labels_of(train, task))
    return _proba(model, _bandpower_features(test, per_channel), len(get_task(task).answers))


def _posterior_alpha(sets) -> np.ndarray:
    """log(alpha / total power) averaged over the posterior channels, (N, 1).

    "Posterior" is the read-out's region (:func:`brainkit.models.readout.region_weights`: parietal
    and occipital sensors located from their positions; the whole head where there is none).
    """
    import torch

    from brainkit.models.readout import REGIONS, region_weights
    from brainkit.models.spectral import band_power_features

    out = []
    for s in sets:
        w = s.windows
        weights = region_weights(w.sensors.pos, w.sensors.has_position)[REGIONS.index("posterior")]  # (C,)
        with torch.no_grad():
            bp = band_power_features(torch.from_numpy(w.x), w.sfreq, ((1.0, 45.0), (8.0, 13.0))).exp()
        rel = torch.log(bp[..., 1] / bp[..., 0]).numpy()  # (N, C)
        out.append((rel @ weights)[:, None])
    return np.concatenate(out)


def posterior_alpha(train, test, task: str) -> np.ndarray:
    """Relative posterior alpha, one logistic threshold (eyes)."""
    model = _logreg().fit(_posterior_alpha(train), labels_of(train, task))
    return _proba(model, _posterior_alpha(test), len(get_task(task).answers))


def _arrays(sets) -> np.ndarray:
    return np.concatenate([s.windows.x for s in sets]).astype(np.float64)


def _bandpass(x: np.ndarray, sfreq: float, lo: float, hi: float) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    return sosfiltfilt(butter(4, [lo, hi], btype="band", fs=sfreq, output="sos"), x, axis=-1)


def csp_lda(train, test, task: str = "motor_imagery", n_components: int = 4) -> np.ndarray:
    """CSP (8-30 Hz) + LDA, the classical motor-imagery pipeline (one channel layout)."""
    from mne.decoding import CSP
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline

    import mne

    sfreq = train[0].windows.sfreq
    model = make_pipeline(CSP(n_components=n_components, reg="ledoit_wolf", log=True),
                          LinearDiscriminantAnalysis())
    with mne.use_log_level("error"):  # CSP reports its covariance ranks on stdout otherwise
        model.fit(_bandpass(_arrays(train), sfreq, 8, 30), labels_of(train, task))
        return _proba(model, _bandpass(_arrays(test), sfreq, 8, 30), len(get_task(task).answers))


def xdawn_tangent(train, test, task: str, n_filters: int = 2) -> np.ndarray:
    """xDAWN covariances + tangent space + logistic regression (1-20 Hz), for ERP tasks."""
    from pyriemann.estimation import XdawnCovariances
    from pyriemann.tangentspace import TangentSpace
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    sfreq = train[0].windows.sfreq
    model = make_pipeline(XdawnCovariances(nfilter=n_filters, estimator="oas"),
                          TangentSpace(metric="riemann"),
                          LogisticRegression(max_iter=2000, class_weight="balanced"))
    model.fit(_bandpass(_arrays(train), sfreq, 1, 20), labels_of(train, task))
    return _proba(model, _bandpass(_arrays(test), sfreq, 1, 20), len(get_task(task).answers))


#: YASA's stage names (classifier or Hypnogram spelling) -> brainkit answer
YASA_STAGES = {"W": "W", "WAKE": "W", "N1": "N1", "N2": "N2", "N3": "N3", "R": "REM", "REM": "REM"}


def yasa_staging(train, test, task: str = "sleep_stage", data_dir=None) -> np.ndarray:
    """YASA's pretrained staging of each test night (``train`` is not used: nothing is fitted).

    Each recording is read at its own rate, unfiltered (YASA filters and resamples itself); its
    single EEG channel is staged; the epochs the task keeps (ties and movement dropped by
    :func:`brainkit.data.corpora.dreams_epochs`) are compared. A night recorded below YASA's minimum
    of 80 Hz (DREAMS excerpt 3: 50 Hz) is resampled to 100 Hz first; it has nothing above 25 Hz.
    """
    import yasa

    from brainkit.data.corpora import _data_dir, _text_rate
    from brainkit.io import read_recording

    answers = get_task(task).answers
    root = _data_dir(data_dir)
    probas = []
    for s in test:
        raw = read_recording(root / s.source, sfreq=_text_rate(s.source)).raw.copy()
        if raw.info["sfreq"] < 80:
            raw.resample(100.0, verbose="error")
        eeg = raw.copy().pick("eeg").ch_names[0]
        proba = yasa.SleepStaging(raw, eeg_name=eeg).predict().proba  # one row per 30-s epoch
        epochs = np.round(np.asarray(s.windows.starts_s) / get_task(task).window_s).astype(int)
        named = {YASA_STAGES[str(c).upper()]: proba[c].to_numpy() for c in proba.columns}
        probas.append(np.stack([named[a] for a in answers], 1)[epochs])  # (N, n_answers)
    return np.concatenate(probas)


#: baseline name -> (fit_predict, tasks it applies to)
BASELINES = {
    "bandpower_logreg": (bandpower_logreg, ("workload", "eyes", "sleep_stage", "motor_imagery", "seizure",
                                            "p300", "n170", "ssvep", "auditory_oddball")),
    "posterior_alpha": (posterior_alpha, ("eyes",)),
    "csp_lda": (csp_lda, ("motor_imagery",)),
    "xdawn_tangent": (xdawn_tangent, ("p300", "n170", "auditory_oddball")),
    "yasa_staging": (yasa_staging, ("sleep_stage",)),
}


def run_baselines(data_dir=None, tasks=None) -> dict:
    """{baseline: {task: metrics}} on the fixed train/validation split of ``brainkit.data.corpora``."""
    from brainkit.data.corpora import load_task

    out: dict[str, dict] = {}
    for name, (fn, applies) in BASELINES.items():
        for task in applies:
            if tasks is None or task in tasks:
                train, val = load_task(task, data_dir, "train"), load_task(task, data_dir, "val")
                proba = (fn(train, val, task, data_dir=data_dir) if name == "yasa_staging"
                         else fn(train, val, task))
                out.setdefault(name, {})[task] = classification_metrics(
                    labels_of(val, task), proba, get_task(task).answers)
    return out
