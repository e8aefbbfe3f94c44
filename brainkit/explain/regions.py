"""Scalp regions and the physiology check the attribution maps must pass.

Closing the eyes raises the occipital alpha rhythm (Berger's effect), so a model that decodes
eyes open/closed should draw the evidence for "closed" from occipital more than from frontal
channels. :func:`eyes_closed_regions` measures that with integrated gradients of the "closed"
answer on eyes-closed windows, started from eyes-open windows of the same person (or from the
all-zero signal); the windows come from :func:`brainkit.data.reference.eegmmidb_eyes`; the shipped
checkpoint's figures and their commands are in the README
(EEGMMIDB's one subject is training data of the ``eyes`` task: this checks where the model looks,
not how it generalises)::

    python -m brainkit explain-regions --data ../shared/data --out eyes_closed_regions.json

Regions go by 10-20/10-05 name (MNE montage spelling, case-insensitive): frontal ``Fp``, ``AF``,
``F``; occipital ``O``, ``PO``, ``I``; midline and lateral letters keep their usual meaning.
"""

from __future__ import annotations

import re

import numpy as np

#: region -> name prefixes (longest match first)
REGIONS = {
    "frontal": ("FP", "AF", "F"),
    "fronto-central": ("FC", "FT"),
    "central": ("C",),
    "temporal": ("T",),
    "centro-parietal": ("CP", "TP"),
    "parietal": ("P",),
    "occipital": ("PO", "O", "I"),
}


def region_of(name: str) -> str | None:
    """The region of a 10-20/10-05 channel name (``Fp1``, ``PO7``, ``Oz``...), or None."""
    from brainkit.sensors import clean_eeg_name

    base = re.sub(r"[^A-Za-z0-9]", "", clean_eeg_name(name).split("-")[0]).upper()
    best, length = None, 0
    for region, prefixes in REGIONS.items():
        for p in prefixes:
            if base.startswith(p) and len(p) > length and re.fullmatch(r"\d+|Z", base[len(p):] or "-"):
                best, length = region, len(p)
    return best


def region_means(names, values) -> dict[str, float]:
    """Mean of ``values`` (C,) over the channels of each region that has any."""
    values = np.asarray(values, dtype=np.float64)
    out: dict[str, list] = {}
    for name, v in zip(names, values):
        region = region_of(str(name))
        if region:
            out.setdefault(region, []).append(v)
    return {r: float(np.mean(v)) for r, v in out.items()}


def eyes_closed_regions(bk, windows, baselines=None, n_steps: int = 32,
                        internal_batch_size: int = 16) -> dict:
    """Integrated gradients of the "closed" answer on eyes-closed windows, by region.

    Parameters
    ----------
    bk : Brainkit
    windows : list of Windows
        Eyes-closed windows (4 s), one per item, all with the same channels.
    baselines : list of Windows, optional
        Eyes-open windows with the same channels. Each closed window's attribution is then the
        mean of its integrated gradients from each of them (expected-gradients style): what makes
        this window "closed" rather than open EEG of the same person. Default: the all-zero
        signal, whose band powers sit at the log floor (log 1e-6), so that every channel's
        attribution carries its whole log power times the model's weight on it.

    Returns
    -------
    dict
        ``occipital`` and ``frontal``: per window, the mean over the region's channels of the
        absolute attribution summed over time; ``ratio`` their per-window quotient;
        ``channel_attribution`` (N, C) those absolute sums and ``channel_evidence`` (N, C) the
        signed sums over time (positive: evidence for "closed"); ``ch_names``; ``p_closed`` the
        model's probability of "closed" per window; ``baseline`` in words.
    """
    import torch

    from brainkit.errors import BrainkitError
    from brainkit.explain.attribution import complete_integrated_gradients, window_input, window_model
    from brainkit.explain.context import explaining, model_lock
    from brainkit.tasks import get_task

    names = list(windows[0].sensors.names)
    starts = None  # the zero signal
    if baselines:
        if any(list(b.sensors.names) != names for b in baselines):
            raise BrainkitError("eyes-open baselines must have the eyes-closed windows' channels")
        starts = torch.cat([window_input(b, "eyes", 0)[1] for b in baselines])
    closed = get_task("eyes").answers.index("closed")
    per_channel, signed, p_closed = [], [], []
    for one in windows:
        model, one, x, _ = window_model(bk, one, "eyes", 0)
        with model_lock(bk), explaining(bk.tokenizer, bk.decoder):
            with torch.no_grad():
                p_closed.append(float(model(x)[0, closed].exp()))
            attr = complete_integrated_gradients(  # averaged over the starts; n_steps each, not doubled
                model, x, closed, baseline=starts, n_steps=n_steps, max_steps=n_steps,
                internal_batch_size=internal_batch_size)[0]
        per_channel.append(attr[0].abs().sum(-1).numpy())
        signed.append(attr[0].sum(-1).numpy())
    per_channel = np.stack(per_channel)  # (N, C)
    regions = [region_means(names, row) for row in per_channel]
    occ = np.array([r["occipital"] for r in regions])
    front = np.array([r["frontal"] for r in regions])
    return {"occipital": occ, "frontal": front, "ratio": occ / np.maximum(front, 1e-12),
            "channel_attribution": per_channel, "channel_evidence": np.stack(signed), "ch_names": names,
            "p_closed": np.array(p_closed),
            "baseline": f"eyes-open windows (mean over {len(baselines)})" if baselines else "zeros"}


def summarise(result: dict) -> dict:
    """JSON-ready figures of :func:`eyes_closed_regions`.

    Three per-channel measures, each averaged over the channels of a region:

    - ``evidence`` (``occipital_evidence``, ``frontal_evidence``, ``evidence_region_means``): the
      signed total attribution toward "closed", mean over windows; ``passes``: occipital above
      frontal.
    - ``net mass`` (``occipital_net_mass``, ``frontal_net_mass``, ``net_mass_region_means``): the
      size of each channel's total, |sum over time|, mean over windows: how much the channel moves
      the answer, whichever way. These per-channel totals are what the topomaps show.
    - ``absolute`` (``occipital_mean``, ``frontal_mean``, ``region_means``): sum over time of the
      absolute per-sample attribution; it also counts per-sample contributions that cancel within
      a channel (fast components such as muscle and eye-movement activity).
    """
    ratio = result["ratio"]
    names = result["ch_names"]
    means = region_means(names, result["channel_attribution"].mean(0))
    evidence = region_means(names, result["channel_evidence"].mean(0))
    net = region_means(names, np.abs(result["channel_evidence"]).mean(0))
    return {"n_windows": int(len(ratio)), "baseline": result["baseline"],
            "occipital_evidence": evidence["occipital"], "frontal_evidence": evidence["frontal"],
            "passes": bool(evidence["occipital"] > evidence["frontal"]),
            "occipital_net_mass": net["occipital"], "frontal_net_mass": net["frontal"],
            "net_mass_passes": bool(net["occipital"] > net["frontal"]),
            "occipital_mean": float(result["occipital"].mean()),
            "frontal_mean": float(result["frontal"].mean()),
            "occipital_over_frontal": float(result["occipital"].mean() / result["frontal"].mean()),
            "windows_occipital_above_frontal": float((ratio > 1).mean()),
            "median_ratio": float(np.median(ratio)),
            "mean_p_closed": float(result["p_closed"].mean()),
            "evidence_region_means": evidence, "net_mass_region_means": net, "region_means": means}
