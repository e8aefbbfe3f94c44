"""The teaching simulator: a scene of sources -> its scalp field, signal, tokens, the model's
answers on every task and the read-out's attribution map (the Simulate page draws them).

:func:`simulate` does one redraw. Its parts:

- the recording: :func:`brainkit.data.simulate.scene.simulate_scene`, wrapped as files are
  read (:func:`simulated_recording`) and named so that it is plainly SIMULATED wherever it goes;
- the scalp map: the field of one source per unit moment times its amplitude
  (:func:`scalp_field`): microvolts on EEG, femtotesla on MEG's magnetometers;
- the answers: :func:`task_answers`, through ``model.predict`` (for :class:`Brainkit` the very
  path of the Decode page: preprocessing as the checkpoint was trained, the task's windows, the
  tokenizer, the connector, the language model's option scores, the task's temperature) on at
  most ``max_windows`` evenly spread windows per task (every epoch for a task read as a
  sequence, sleep staging); :class:`HeadModel` answers from the decoder's read-out head alone,
  without the language model (the answer the language model is given as its anchor), for tests
  and the page's "fast answers";
- the tokens: the tokenizer's codes of the first windows (:func:`scene_codes`) and which of them
  changed since the previous scene (:func:`code_changes`);
- the attribution map (:func:`readout_map`): the read-out head's answer decomposed over regions
  and features (:func:`brainkit.explain.readout.readout_contributions`), measured from the same
  scene WITHOUT its sources (background, blinks and noise as they are): what the sources add.
  Each region's contribution is shared among its channels by the read-out's own pooling weights
  (:func:`brainkit.models.readout.region_weights`), so the map's channels add up to the total.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from brainkit.data.simulate.scene import MONTAGES, RHYTHMS, Scene, Source, simulate_scene, source_field
from brainkit.errors import BrainkitError
from brainkit.tasks import TASK_IDS, get_task

#: windows decoded per task at most (every epoch for sleep staging): one language-model pass per task
MAX_WINDOWS = 1
TOKEN_WINDOW_S = 4.0


@dataclass(frozen=True)
class Lesson:
    """A guided preset: one sentence, and the scene it sets."""

    sentence: str
    scene: Scene


LESSONS = {
    "Closing the eyes": Lesson(
        "Close the eyes: the occipital alpha generator grows four-fold (eyes open: 40 nA·m) and the "
        "blinks stop, the back of the head fills with 10-Hz waves and the eyes answer turns to 'closed'.",
        Scene(sources=(Source("alpha", "occipital", amplitude_nam=RHYTHMS["alpha"].default_nam),))),
    "A motor rhythm over one hemisphere": Lesson(
        "A mu rhythm over the left hand area (C3): the map is a dipole over the left motor strip, "
        "the spectrum shows ~10 and ~20 Hz peaks, and the motor imagery answer leans to one hand.",
        Scene(sources=(Source("mu", "left motor (hand)", amplitude_nam=RHYTHMS["mu"].default_nam),),
              blinks_per_min=6.0)),
    "A night from wake to deep sleep": Lesson(
        "Five minutes of a night compressed into ten 30-s epochs: the fast activity of wake and the "
        "alpha fade, spindles come and slow waves grow over the top of the head; sleep staging goes "
        "from W to N3 (read from the central leads, as a scorer reads C3 and C4).",
        Scene(sources=(Source("beta", "frontal", amplitude_nam=100.0, end_amplitude_nam=0.0),
                       Source("alpha", "occipital", amplitude_nam=200.0, end_amplitude_nam=0.0),
                       Source("sleep spindles", "vertex", amplitude_nam=0.0, end_amplitude_nam=150.0),
                       Source("slow waves", "vertex", amplitude_nam=0.0, end_amplitude_nam=400.0)),
              duration_s=300.0)),
}


def recording_name(scene: Scene) -> str:
    """``SIMULATED: alpha at occipital, ... (10-20 EEG, 19 channels)``."""
    parts = [f"{s.rhythm} at " + (s.region if s.position_mm is None else
                                  "(" + ", ".join(f"{v:g}" for v in s.position_mm) + ") mm")
             for s in scene.sources]
    return f"SIMULATED: {', '.join(parts) or 'background only'} ({MONTAGES[scene.montage][0]})"


def simulated_recording(scene: Scene, include_background: bool = True):
    """The scene as a :class:`brainkit.io.Recording` (format ``simulated``)."""
    from brainkit.io import recording_from_raw

    raw = simulate_scene(scene, include_background)
    return recording_from_raw(raw, name=recording_name(scene), fmt="simulated")


def scalp_field(scene: Scene, recording, index: int = 0):
    """The field of source ``index`` at its (starting) amplitude on the montage.

    Returns
    -------
    sensors : SensorArray
        The channels drawn: every EEG electrode, or MEG's magnetometers.
    values : ndarray, shape (C',)
        uV (EEG, common average reference) or fT (magnetometers).
    unit : str
    """
    if not 0 <= index < len(scene.sources):
        raise BrainkitError(f"source {index + 1} does not exist (the scene has {len(scene.sources)})")
    source = scene.sources[index]
    amplitude = RHYTHMS[source.rhythm].default_nam if source.amplitude_nam is None else source.amplitude_nam
    field = source_field(scene.montage, source) * amplitude * 1e-9  # V or T
    kinds = np.asarray(recording.sensors.kinds)
    if MONTAGES[scene.montage][1] is None:
        picks = np.flatnonzero(kinds == "mag")
        return recording.sensors.pick(picks), field[picks] * 1e15, "fT"
    return recording.sensors, field * 1e6, "uV"


def task_answers(model, recording, tasks=TASK_IDS, max_windows: int = MAX_WINDOWS, prep=None) -> dict:
    """The model's answers for each task on a recording, as ``model.predict`` gives them.

    Parameters
    ----------
    model : Brainkit or HeadModel
        Anything with ``predict(windows, task)`` and ``preprocess_config``.
    recording : brainkit.io.Recording
    tasks : iterable of str
    max_windows : int
        Windows per task at most, evenly spread; a task read as a sequence gets every window.
    prep : Preprocessed, optional
        ``preprocess(recording, model.preprocess_config)`` when already done.

    Returns
    -------
    dict of str to Predictions
    """
    from brainkit.preprocess import evenly_spaced, preprocess, sliding_windows

    prep = prep if prep is not None else preprocess(recording, model.preprocess_config)
    out = {}
    for task in (get_task(t) for t in tasks):
        windows = sliding_windows(prep, task.window_s)
        if task.id not in model.decoder.config.sequence_tasks:
            windows = windows.select(evenly_spaced(len(windows), max_windows))
        out[task.id] = model.predict(windows, task.id)
    return out


def mean_probabilities(predictions) -> dict:
    """task -> {answer: mean probability over the task's windows}."""
    return {t: dict(zip(p.answers, p.probabilities.mean(0).astype(float))) for t, p in predictions.items()}


def answer_rows(predictions, previous=None) -> list[dict]:
    """One row per task for a table: ``task``, ``answer`` (most probable, mean over windows),
    ``p`` (its mean probability), ``change`` (that answer's probability minus the previous scene's,
    None without one), ``probabilities`` (every answer's, as text)."""
    before = mean_probabilities(previous) if previous else {}
    rows = []
    for task, probs in mean_probabilities(predictions).items():
        answer = max(probs, key=probs.get)
        old = before.get(task, {}).get(answer)
        rows.append({"task": task, "answer": answer, "p": round(probs[answer], 3),
                     "change": None if old is None else round(probs[answer] - old, 3),
                     "probabilities": ", ".join(f"{a} {q:.2f}" for a, q in probs.items())})
    return rows


class HeadModel:
    """Tokenizer and decoder without the language model: each task's answer from the decoder's
    read-out head alone, ``softmax(head(read-out features) / temperature)``.

    For the shipped decoder (every task in ``readout_tasks``, none in ``deep_tasks``) these are
    the auxiliary logits that ``answer_log_probabilities(..., use_lm=False)`` returns, and the
    answer anchor the language model reads; the language model, which the connector needs for the
    task captions, is not loaded. Same interface as :class:`brainkit.inference.Brainkit` for
    :func:`task_answers` and :func:`simulate` (tests, and the Simulate page's fast answers).
    ``model``: take the tokenizer, decoder and preprocessing of a loaded :class:`Brainkit`.
    """

    def __init__(self, checkpoint=None, *, model=None):
        from brainkit.models.checkpoint import load_decoder_model, load_preprocess_config, load_tokenizer_model

        if model is not None:  # a loaded Brainkit's parts, shared (read-only here)
            self.tokenizer, self.decoder = model.tokenizer, model.decoder
            self.preprocess_config = model.preprocess_config
            return
        self.tokenizer = load_tokenizer_model(checkpoint)
        self.decoder = load_decoder_model(checkpoint)
        self.preprocess_config = load_preprocess_config(checkpoint)

    def temperature(self, task: str) -> float:
        return float(self.decoder.config.temperatures.get(get_task(task).id, 1.0))

    @staticmethod
    def answers_every_task(decoder, tasks=TASK_IDS) -> bool:
        """Whether the read-out head alone decides every one of ``tasks`` in this decoder."""
        return all(t in decoder.readout_heads and t not in decoder.config.deep_tasks for t in tasks)

    def predict(self, windows, task: str):
        import torch

        from brainkit.inference import Predictions, fit_window, readout_inputs

        task = get_task(task)
        if task.id not in self.decoder.readout_heads or task.id in self.decoder.config.deep_tasks:
            raise BrainkitError(f"task {task.id} is not decided by the read-out head alone: "
                                "its answer needs the language model (use Brainkit)")
        windows = fit_window(windows, task.window_s)
        with torch.inference_mode():
            logits = self.decoder.readout_heads[task.id](readout_inputs(self.decoder, windows, task.id))
            p = (logits.double() / self.temperature(task.id)).softmax(-1).numpy()
        return Predictions(task.id, windows.starts_s, task.window_s, task.answers, p)


def scene_codes(tokenizer, recording, max_windows: int = MAX_WINDOWS, window_s: float = TOKEN_WINDOW_S,
                prep=None):
    """Codes of the first windows of a recording, shape (N, K, P, L), and seconds per patch
    (``prep``: the recording preprocessed already, default as the tokenizer was trained)."""
    import torch

    from brainkit.models.checkpoint import preprocess_config
    from brainkit.preprocess import preprocess, sliding_windows

    windows = sliding_windows(prep if prep is not None else preprocess(recording, preprocess_config(tokenizer.config)),
                              window_s)
    windows = windows.select(np.arange(min(len(windows), max_windows)))
    with torch.inference_mode():
        codes, _ = tokenizer.encode(torch.from_numpy(windows.x), windows.sensors)
    return codes.numpy(), tokenizer.config.patch_size / tokenizer.config.sfreq


def code_changes(previous, current) -> np.ndarray | None:
    """How many levels' codes differ per source and patch, shape (K, P), summed over windows;
    None when there is no previous scene or its codes have another shape (another montage)."""
    if previous is None or np.shape(previous) != np.shape(current):
        return None
    return (np.asarray(previous) != np.asarray(current)).sum(axis=(0, 3))


def readout_map(model, scene: Scene, recording, task: str, max_windows: int = MAX_WINDOWS,
                prep=None) -> dict | None:
    """The read-out's attribution of one task's answer over channels, from the sources-free scene.

    ``model`` is a :class:`Brainkit` or :class:`HeadModel` (its decoder and preprocessing).

    Returns
    -------
    dict or None
        ``task``, ``answer`` (the head's answer on the scene), ``channel`` (C,) contributions in
        nats per channel (adding up to ``total``), ``total``, ``contributions`` (list of (region,
        feature, nats), largest first); None for a task the read-out does not decide or reads as a
        sequence (its features are relative to the night: one scene says nothing alone).
    """
    from brainkit.explain.readout import readout_contributions
    from brainkit.inference import readout_inputs
    from brainkit.models.readout import REGIONS, region_weights
    from brainkit.models.taskpack import head_for
    from brainkit.preprocess import evenly_spaced, preprocess, sliding_windows

    task, decoder = get_task(task), model.decoder
    if task.id not in decoder.readout_heads or task.id in decoder.config.sequence_tasks:
        return None
    rows = []
    background = simulated_recording(replace(scene, sources=()), include_background=True)
    for done in (prep if prep is not None else preprocess(recording, model.preprocess_config),
                 preprocess(background, model.preprocess_config)):
        windows = sliding_windows(done, task.window_s)
        windows = windows.select(evenly_spaced(len(windows), max_windows))
        rows.append(readout_inputs(decoder, windows, task.id).mean(0).numpy())
    head = head_for(decoder.readout_heads[task.id], len(rows[0]))
    logits = head.weight.detach().double().numpy() @ rows[0] + head.bias.detach().double().numpy()
    answer = int(np.argmax(logits))
    contributions = readout_contributions(decoder, rows[0], task.id, answer, rows[1])
    s = recording.sensors
    per_region, own = np.zeros(len(REGIONS)), np.zeros(len(s.names))
    names = [n.lower() for n in s.names]
    for region, _, c in contributions:  # a region, or a taught task's own channel
        if region in REGIONS:
            per_region[REGIONS.index(region)] += c
        else:
            own[names.index(region.lower())] += c
    channel = per_region @ region_weights(s.pos, s.has_position) + own  # (C,)
    return {"task": task.id, "answer": task.answers[answer], "channel": channel,
            "total": float(per_region.sum()), "contributions": contributions}


@dataclass
class Simulation:
    """One redraw of the simulator (:func:`simulate`).

    Attributes
    ----------
    scene : Scene
    recording : brainkit.io.Recording
    map_sensors : SensorArray
    field : ndarray, shape (C',)
        Scalp field of the chosen source (``unit``).
    unit : str
    predictions : dict of str to Predictions
    codes : ndarray, shape (N, K, P, L)
    patch_s : float
    attribution : dict or None
        :func:`readout_map` of the chosen task.
    """

    scene: Scene
    recording: object
    map_sensors: object
    field: np.ndarray
    unit: str
    predictions: dict
    codes: np.ndarray
    patch_s: float
    attribution: dict | None


def simulate(model, scene: Scene, task: str = "eyes", source_index: int = 0,
             max_windows: int = MAX_WINDOWS) -> Simulation:
    """Everything the Simulate page shows for one scene.

    Parameters
    ----------
    model : Brainkit or HeadModel
    scene : Scene
    task : str or None
        The task whose attribution map is drawn (None: no map).
    source_index : int
        The source whose field is drawn (0 when the scene has none: no field).
    max_windows : int
        Windows per task decoded (:func:`task_answers`) and tokenized.
    """
    from brainkit.preprocess import preprocess

    recording = simulated_recording(scene)
    prep = preprocess(recording, model.preprocess_config)  # once, as Decode does
    if scene.sources:
        sensors, field, unit = scalp_field(scene, recording, min(source_index, len(scene.sources) - 1))
    else:
        sensors, field, unit = recording.sensors, np.zeros(len(recording.sensors)), "uV"
    codes, patch_s = scene_codes(model.tokenizer, recording, max_windows, prep=prep)
    answers = task_answers(model, recording, max_windows=max_windows, prep=prep)
    attribution = readout_map(model, scene, recording, task, max_windows, prep) if task else None
    return Simulation(scene, recording, sensors, field, unit, answers, codes, patch_s, attribution)
