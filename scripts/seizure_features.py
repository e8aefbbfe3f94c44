"""The model card's seizure ablation: gain-invariant features tried beside the read-out, and band
power without its amplitude, in the cross-validation folds of ``brainkit crossval``.

    python scripts/seizure_features.py [--data ../shared/data]

Prints balanced accuracy (mean, std over folds, %) of brainkit's read-out head (the shipped
features, its logistic regression refitted in each fold) with each candidate feature appended,
then with all of them, and of band power + logistic regression as recorded and with relative band
powers only (no amplitude); then nonlinear classifiers (scikit-learn's gradient boosting, random
forest, a one-hidden-layer perceptron) on the read-out and on the read-out with every candidate;
last, the windows each method gets wrong per Bonn set (A, B healthy scalp; C, D interictal; E
ictal). Candidates, per window and channel (averaged over channels; Bonn has
one): autocorrelation peak and trough at 40-500 ms (rhythmicity), the variability and range of the
0.5-s RMS envelope, zero crossings and extrema per second, Teager energy per variance, Katz's
fractal dimension, permutation entropy (order 4, two delays), the log relative power in 4-Hz
bins from 1 to 45 Hz, and (added in the round after) Higuchi's fractal dimension, the detrended
fluctuation exponent and sample entropy (m = 2, r = 0.2 standard deviations, on the signal
averaged over pairs of samples, 128 Hz: a scale every source rate from 128 Hz up keeps).
Nothing here is shipped.
"""

import argparse

import numpy as np


def higuchi_dimension(z: np.ndarray, k_max: int = 10) -> np.ndarray:
    """Higuchi's fractal dimension of each row of ``z`` (N, T): the slope of log curve length
    against log 1/k over lags k = 1..k_max."""
    T = z.shape[-1]
    lengths = []
    for k in range(1, k_max + 1):
        per_offset = [np.abs(np.diff(z[:, m::k], axis=1)).sum(1) * (T - 1) / ((len(range(m, T, k)) - 1) * k * k)
                      for m in range(k)]
        lengths.append(np.mean(per_offset, 0))
    return _slope(np.log(1.0 / np.arange(1, k_max + 1)), np.log(np.stack(lengths, 1)))


def dfa_exponent(z: np.ndarray, sizes=(16, 23, 32, 45, 64, 90, 128, 181)) -> np.ndarray:
    """Detrended fluctuation analysis of each row of ``z`` (N, T): the slope of the log RMS of
    the linearly detrended profile in boxes against the log box size."""
    profile = np.cumsum(z - z.mean(1, keepdims=True), 1)
    used = [n for n in sizes if profile.shape[1] // n >= 2]
    fluctuation = []
    for n in used:
        boxes = profile[:, :profile.shape[1] // n * n].reshape(len(z), -1, n)
        t = np.arange(n) - (n - 1) / 2
        trend = boxes.mean(-1, keepdims=True) + (boxes * t).sum(-1, keepdims=True) / (t ** 2).sum() * t
        fluctuation.append(np.sqrt(((boxes - trend) ** 2).mean((1, 2))))
    return _slope(np.log(np.array(used, float)), np.log(np.stack(fluctuation, 1)))


def sample_entropy(z: np.ndarray, m: int = 2, r: float = 0.2) -> np.ndarray:
    """Sample entropy of each row of ``z`` (N, T): -log of the chance that templates of m + 1
    samples match (Chebyshev distance within r standard deviations) given that their first m
    do, counts plus one (never infinite)."""
    out = np.empty(len(z))
    for i, row in enumerate(z):
        tolerance, n = r * row.std(), len(row) - m
        templates = np.stack([row[j:j + n] for j in range(m + 1)], 1)  # (n, m + 1)
        close = np.ones((n, n), dtype=bool)
        for j in range(m):
            close &= np.abs(templates[:, None, j] - templates[None, :, j]) <= tolerance
        longer = close & (np.abs(templates[:, None, m] - templates[None, :, m]) <= tolerance)
        pairs = lambda c: (c.sum() - n) / 2  # noqa: E731 (off the diagonal, each pair once)
        out[i] = -np.log((pairs(longer) + 1) / (pairs(close) + 1))
    return out


def _slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of each row of ``y`` (N, K) against ``x`` (K,)."""
    x = x - x.mean()
    return ((y - y.mean(1, keepdims=True)) * x).sum(1) / (x ** 2).sum()


def candidates(x: np.ndarray, sfreq: float) -> dict:
    """Candidate features of windows ``x`` (N, C, T), each (N, C); all free of the gain."""
    from scipy.signal import welch

    z = x - x.mean(-1, keepdims=True)
    z = z / (z.std(-1, keepdims=True) + 1e-12)
    T = z.shape[-1]
    out = {}
    spectrum = np.fft.rfft(z, n=2 * T, axis=-1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, axis=-1)[..., :T] / T
    lags = slice(int(sfreq / 25), int(sfreq / 2))
    out["acf_peak"], out["acf_trough"] = acf[..., lags].max(-1), acf[..., lags].min(-1)
    seg = int(0.5 * sfreq)
    n = T // seg
    rms = np.sqrt((z[..., :n * seg].reshape(*z.shape[:-1], n, seg) ** 2).mean(-1)) + 1e-9
    out["envelope_cv"] = rms.std(-1) / rms.mean(-1)
    out["envelope_log_range"] = np.log(rms.max(-1) / rms.min(-1))
    d = np.diff(z, axis=-1)
    out["zero_crossings"] = (np.diff(np.sign(z), axis=-1) != 0).mean(-1) * sfreq
    out["extrema"] = (np.diff(np.sign(d), axis=-1) != 0).mean(-1) * sfreq
    out["teager"] = np.log(np.abs((z[..., 1:-1] ** 2 - z[..., :-2] * z[..., 2:]).mean(-1)) + 1e-9)
    length, spread = np.abs(d).sum(-1), np.abs(z - z[..., :1]).max(-1)
    out["katz"] = np.log10(T - 1) / (np.log10(T - 1) + np.log10(spread / length + 1e-12))
    for delay in (1, max(1, int(sfreq / 40))):
        order = 4
        span = T - (order - 1) * delay
        embedded = np.stack([z[..., i * delay:i * delay + span] for i in range(order)], -1)
        codes = (np.argsort(embedded, -1) * order ** np.arange(order)).sum(-1)
        entropy = np.zeros(z.shape[:-1])
        for index in np.ndindex(*z.shape[:-1]):
            _, counts = np.unique(codes[index], return_counts=True)
            p = counts / counts.sum()
            entropy[index] = -(p * np.log(p)).sum() / np.log(24)
        out[f"permutation_entropy_{delay}"] = entropy
    freqs, power = welch(z, fs=sfreq, nperseg=int(2 * sfreq), axis=-1)
    total = power[..., (freqs >= 1) & (freqs < 45)].sum(-1)
    for lo in range(1, 45, 4):
        band = power[..., (freqs >= lo) & (freqs < lo + 4)].sum(-1)
        out[f"log_relative_{lo}_{lo + 4}_hz"] = np.log(band / total + 1e-6)
    rows = z.reshape(-1, T)
    pairs = rows[:, :T // 2 * 2].reshape(len(rows), -1, 2).mean(-1)  # half the rate
    for name, feature in (("higuchi_dimension", higuchi_dimension(rows)), ("dfa_exponent", dfa_exponent(rows)),
                          ("sample_entropy", sample_entropy(pairs))):
        out[name] = feature.reshape(z.shape[:-1])
    return out


def with_neighbours(features: np.ndarray, starts_s, half: int) -> np.ndarray:
    """``features`` (N, F) of one recording's windows beside the mean over each window's
    neighbours within ``half`` windows in time, (N, 2F)."""
    order = np.argsort(starts_s, kind="stable")
    f = features[order]
    context = np.stack([f[max(0, i - half):i + half + 1].mean(0) for i in range(len(f))])
    out = np.empty_like(context)
    out[order] = context
    return np.concatenate([features, out], 1)


def main() -> None:
    from brainkit.data.corpora import load_task
    from brainkit.evaluation.baselines import _logreg, channel_feature_array, labels_of
    from brainkit.evaluation.crossval import folds
    from brainkit.evaluation.metrics import balanced_accuracy
    from brainkit.inference import window_readout
    from brainkit.models.readout import fit_head, softmax_logits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    task = "seizure"
    sets = load_task(task, args.data)
    splits, _ = folds(sets, task)
    readout = [window_readout(s.windows).numpy() for s in sets]
    extra = [{k: v.mean(1) for k, v in candidates(s.windows.x.astype(np.float64), s.windows.sfreq).items()}
             for s in sets]

    bonn_set = [s.source.split("/")[1][0] for s in sets]  # A-E

    def out_of_fold(features, fit) -> tuple[list, list]:
        """Balanced accuracy per fold, and the Bonn set of every test window answered wrongly."""
        accuracy, wrong = [], []
        for split in splits:
            train, test = [sets[j] for j in split.train], [sets[j] for j in split.test]
            x_train = np.concatenate([features(j) for j in split.train])
            x_test = np.concatenate([features(j) for j in split.test])
            proba, y = fit(x_train, labels_of(train, task), x_test), labels_of(test, task)
            accuracy.append(balanced_accuracy(y, proba.argmax(1)))
            where = np.concatenate([[bonn_set[j]] * len(sets[j].windows) for j in split.test])
            wrong.extend(where[proba.argmax(1) != y])
        return accuracy, wrong

    def summary(accuracy) -> str:
        return f"{100 * np.mean(accuracy):.1f} ± {100 * np.std(accuracy):.1f}"

    def per_set(wrong) -> str:
        return ", ".join(f"{k} {wrong.count(k)}" for k in sorted(set(bonn_set)))

    def score(features, fit) -> str:
        return summary(out_of_fold(features, fit)[0])

    def head(x_train, y, x_test):
        weight, bias = fit_head(x_train, y, 2)
        return softmax_logits(x_test @ weight.T + bias)

    def logreg(x_train, y, x_test):
        return _logreg().fit(x_train, y).predict_proba(x_test)

    names = list(extra[0])
    every = lambda j: np.concatenate([readout[j], np.stack([extra[j][n] for n in names], 1)], 1)  # noqa: E731
    head_run = out_of_fold(lambda j: readout[j], head)
    print("read-out head", summary(head_run[0]))
    for name in names:
        print(f"  + {name}", score(lambda j: np.concatenate([readout[j], extra[j][name][:, None]], 1), head))
    print("  + all", score(every, head))

    def band_power(j, amplitude=True):
        s = sets[j]
        f = channel_feature_array(s.windows.x, s.windows.sfreq, s.windows.scale)  # log powers, log scale
        if not amplitude:
            f = f[..., :-1] - np.log(np.exp(f[..., :-1]).sum(-1, keepdims=True))
        return np.concatenate([f.mean(1), f.std(1)], -1)

    band_run = out_of_fold(band_power, logreg)
    print("band power + logistic regression", summary(band_run[0]))
    best = max(names, key=lambda n: np.mean(out_of_fold(
        lambda j: np.concatenate([readout[j], extra[j][n][:, None]], 1), head)[0]))
    best_run = out_of_fold(lambda j: np.concatenate([readout[j], extra[j][best][:, None]], 1), head)
    gap = 100 * (np.array(best_run[0]) - band_run[0])
    print(f"  read-out head + {best} minus band power, paired over folds: {gap.mean():+.1f} ± "
          f"{gap.std(ddof=1) / np.sqrt(len(gap)):.1f} (standard error); wrong: {per_set(best_run[1])}")
    print("  relative band powers only", score(lambda j: band_power(j, False), logreg))

    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    nonlinear = {
        "gradient boosting": lambda: HistGradientBoostingClassifier(class_weight="balanced", random_state=0),
        "random forest": lambda: RandomForestClassifier(300, class_weight="balanced", random_state=0),
        "perceptron (64 units)": lambda: make_pipeline(
            StandardScaler(), MLPClassifier((64,), alpha=1e-2, max_iter=500, random_state=0))}
    for name, make in nonlinear.items():
        fit = lambda a, y, b, make=make: make().fit(a, y).predict_proba(b)  # noqa: E731
        print(name, "on the read-out", score(lambda j: readout[j], fit), "+ all", score(every, fit))

    band = [band_power(j) for j in range(len(sets))]
    for half in (1, 2):
        near = [with_neighbours(readout[j], sets[j].windows.starts_s, half) for j in range(len(sets))]
        near_run = out_of_fold(lambda j: near[j], head)
        print(f"with the neighbours within {half} windows: read-out head", summary(near_run[0]),
              f"({per_set(near_run[1])} wrong)", "| band power",
              score(lambda j: with_neighbours(band[j], sets[j].windows.starts_s, half), logreg))

    print("windows wrong per Bonn set (of 500 each): read-out head", per_set(head_run[1]),
          "| band power", per_set(band_run[1]))


if __name__ == "__main__":
    main()
