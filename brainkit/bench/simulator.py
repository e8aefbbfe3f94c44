"""The teaching simulator's redraw time (``brainkit bench --only simulator``).

One redraw is what the Simulate page computes after each change of a widget:
:func:`brainkit.teaching.simulate` (the scene's recording, the scalp field, the tokens of the
first 4-s window, every task's answer through :meth:`brainkit.inference.Brainkit.predict` with
the language model, and the read-out's attribution map of ``eyes``). Per montage, the first
scene is drawn once untimed (it computes the forward model and the background that the montage
then keeps, :mod:`brainkit.data.simulate.scene`) and timed separately as ``first_s``; then each
of :data:`CHANGES` (a source moved, turned, made stronger, another added) is timed ``repeats``
times. Drawing the figures (plotly) is not included.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from brainkit.data.simulate.scene import MONTAGES, Scene, Source

#: successive scenes, each one change from the one before (the first is the default scene)
CHANGES = (
    Scene(),
    Scene(sources=(Source("alpha", "parietal"),)),
    Scene(sources=(Source("alpha", "frontal"),)),
    Scene(sources=(Source("alpha", "frontal", orientation="tangential, front-back"),)),
    Scene(sources=(Source("alpha", "frontal", orientation="tangential, front-back", amplitude_nam=300.0),)),
    Scene(sources=(Source("alpha", "frontal", orientation="tangential, front-back", amplitude_nam=300.0),
                   Source("mu", "left motor (hand)"))),
)
BEGIN, END = "<!-- bench:simulator:begin -->", "<!-- bench:simulator:end -->"


def bench_simulator(bk, repeats: int = 3, montages=tuple(MONTAGES), progress=None) -> dict:
    """Seconds per redraw, per montage: ``first_s`` (forward model and background computed),
    ``redraw`` and ``redraw_fast`` (median, min, max over every change and repeat), ``n`` (each)."""
    from brainkit.teaching import HeadModel, simulate

    say = progress or (lambda msg: None)
    out = {}
    for montage in montages:
        scenes = [replace(s, montage=montage) for s in CHANGES]
        say(f"simulator: {MONTAGES[montage][0]}")
        t0 = time.perf_counter()
        simulate(bk, scenes[0], "eyes")
        first = time.perf_counter() - t0
        out[montage] = {"montage": MONTAGES[montage][0], "first_s": first, "n": repeats * (len(scenes) - 1)}
        out[montage]["redraw_fast"] = None  # a decoder whose heads do not answer every task
        modes = [("redraw", bk)] + [("redraw_fast", HeadModel(model=bk))] * HeadModel.answers_every_task(bk.decoder)
        for name, model in modes:
            times = []
            for _ in range(repeats):
                for scene in scenes[1:]:
                    t0 = time.perf_counter()
                    simulate(model, scene, "eyes")
                    times.append(time.perf_counter() - t0)
            out[montage][name] = {"median_s": float(np.median(times)), "min_s": float(np.min(times)),
                                  "max_s": float(np.max(times))}
    return out


def simulator_markdown(result: dict) -> str:
    """The simulator's table (``result["simulator"]``) with the run's facts."""
    meta = result["meta"]
    lines = [f"Run {meta['created']} · brainkit {meta['brainkit_commit']} · {meta['cpu']}, {meta['cores']} cores, "
             f"torch threads {meta['torch_threads']} · load average at start "
             f"{', '.join(f'{v:.1f}' for v in meta['load_average'] or [])}", "",
             "| montage | first scene s (forward model + background) | redraw s: median (min-max) | "
             "fast answers (read-out head) redraw s | redraws each |",
             "|---|---|---|---|---|"]
    for r in result["simulator"].values():
        cells = [f"{d['median_s']:.2f} ({d['min_s']:.2f}-{d['max_s']:.2f})" if d else "not measured: the heads "
                 "do not answer every task" for d in (r["redraw"], r["redraw_fast"])]
        lines.append(f"| {r['montage']} | {r['first_s']:.2f} | {cells[0]} | {cells[1]} | {r['n']} |")
    return "\n".join(lines) + "\n"
