"""The Streamlit app, driven headless with ``streamlit.testing.v1.AppTest``.

Every page listed in ``app.py`` renders with and without a recording; each sample recording and
an uploaded file (one EDF, a three-file BrainVision set) show their header, a channel table with
one row per channel, trace and spectrum figures with data, and the Sensors page; a damaged file
gives one error line and no exception.

The model pages (Tokens, Decode, Explain, Task correlations) run on a tiny random checkpoint and
language model that ``BRAINKIT_CHECKPOINT`` and ``BRAINKIT_LM`` point the app at; without a
trained tokenizer or decoder they say so.
"""

import ast
import json
from pathlib import Path

import mne
import numpy as np
import pytest

from conftest import save_tiny_tokenizer
import torch
from streamlit.testing.v1 import AppTest

from brainkit.io import FORMATS
from brainkit.tasks import TASK_IDS as TASK_IDS_ALL

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_data"
TIMEOUT = 60
UPLOAD, SENSORS = "pages/1_Upload.py", "pages/2_Sensors.py"
TOKENS, DECODE, EXPLAIN, CORRELATIONS = ("pages/3_Tokens.py", "pages/4_Decode.py",
                                         "pages/5_Explain.py", "pages/6_Task_correlations.py")
#: A task that suits each sample recording (decoded and explained on it).
SAMPLE_TASKS = {"eyes_open_closed.edf": "eyes", "meg_evoked_raw.fif.gz": "auditory_oddball",
                "oddball_erp.vhdr": "p300", "sleep_night.edf": "sleep_stage"}
torch.set_num_threads(1)
#: Sample entry points, as the Upload page's selectbox lists them (a BrainVision .eeg is the data
#: of its .vhdr, not an entry, since .eeg can also be Nihon Kohden)
SAMPLE_NAMES = sorted(p.name for p in SAMPLES.glob("*")
                      if p.is_file() and p.name.lower().removesuffix(".gz").endswith(tuple(FORMATS))
                      and not (p.suffix == ".eeg" and p.with_suffix(".vhdr").exists()))
EEG_NAMES = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "Fz", "Cz", "Pz"]


def _registered_pages() -> list[str]:
    """The ``PAGES`` list of app.py, read without running Streamlit."""
    tree = ast.parse((ROOT / "app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PAGES":
            return [path for path, _title, _icon in ast.literal_eval(node.value)]
    raise AssertionError("app.py has no PAGES list")


def _app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    return at


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _values(spec) -> np.ndarray:
    """A data array of a figure's JSON: a list, or plotly's base64 form ``{"dtype", "bdata"[, "shape"]}``."""
    import base64

    if isinstance(spec, dict) and "bdata" in spec:
        values = np.frombuffer(base64.b64decode(spec["bdata"]), dtype=spec["dtype"])
        shape = spec.get("shape")
        return values.reshape([int(k) for k in str(shape).split(",")]) if shape else values
    return np.asarray(spec, dtype=object)


def _present(values: np.ndarray) -> np.ndarray:
    """Which values are plotted: finite numbers, or non-empty categories (answers, names)."""
    try:
        return np.isfinite(values.astype(float))
    except (TypeError, ValueError):
        return np.array([v is not None and v != "" for v in values.ravel()]).reshape(values.shape)


def _points(trace: dict) -> int:
    """Plotted values of a trace: its (x, y[, z]) points, or the cells of a heatmap's z."""
    if trace.get("type") in ("heatmap", "surface") or ("z" in trace and "x" not in trace):
        return int(_present(_values(trace["z"])).sum()) if "z" in trace else 0
    columns = [_present(_values(trace[k]).ravel()) for k in ("x", "y", "z") if k in trace]
    assert len({len(c) for c in columns}) <= 1, f"{trace.get('type')}: x, y, z of different lengths"
    return int(np.stack(columns).all(0).sum()) if columns else 0


def _assert_figures_have_data(at: AppTest, n: int, min_points=1) -> list[list[int]]:
    """``n`` figures, each plotting at least ``min_points`` points (one number, or one per figure)
    over its traces, counted in the decoded arrays (not the keys of plotly's binary encoding).
    Returns the points of each trace of each figure."""
    figures = _figures(at)
    assert len(figures) == n
    counts = [[_points(trace) for trace in fig["data"]] for fig in figures]
    minimums = min_points if isinstance(min_points, (list, tuple)) else [min_points] * n
    for fig, points, least in zip(figures, counts, minimums):
        assert sum(points) >= least, (fig.get("layout", {}).get("title"), points)
    return counts


def _assert_upload_page_shows(at: AppTest) -> None:
    """Header, one table row per channel, traces and spectrum; then the Sensors page."""
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    recording = at.session_state["recording"]
    assert [m.label for m in at.metric] == ["Format", "Sampling rate", "Duration", "Channels"]
    assert at.metric[3].value == str(len(recording.sensors))
    table = at.dataframe[0].value
    assert list(table["name"]) == list(recording.sensors.names)
    assert {"kind", "has_position", "flags", "robust_std"} <= set(table.columns)
    _assert_figures_have_data(at, 2, [1000, 100])  # traces (seconds of samples), spectrum
    at.switch_page(SENSORS).run()
    assert not at.exception, at.exception
    model = recording.decoded_channels[0]
    _assert_figures_have_data(at, 2, len(model))  # top view, 3-D head: a point per sensor at least
    if len(model):
        assert len(at.dataframe[0].value) == len(model)
        assert {"x_mm", "y_mm", "z_mm", "ori_x", "position_source"} <= set(at.dataframe[0].value.columns)


@pytest.fixture(autouse=True)
def _navigation_as_in_the_server(monkeypatch):
    """Run app.py on every AppTest run, as the server does.

    Streamlit runs the ``pages/`` folder as an old-style multipage app until ``st.navigation``
    switches that off for the process (``PagesManager.uses_pages_directory = False``). AppTest
    resets the switch before every run, so without this its reruns would execute the page file
    alone and skip app.py (its sidebar note, its widget-state keeping).
    """
    from streamlit.runtime.pages_manager import PagesManager

    class Navigated(PagesManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr("streamlit.testing.v1.app_test.PagesManager", Navigated)
    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)


@pytest.fixture(scope="module")
def edf_bytes(tmp_path_factory) -> bytes:
    rng = np.random.default_rng(0)
    raw = mne.io.RawArray(rng.normal(0, 20e-6, (len(EEG_NAMES), 256 * 40)),
                          mne.create_info(EEG_NAMES, 256.0, "eeg"), verbose="error")
    raw.set_annotations(mne.Annotations([3.0, 12.0], [0.0, 5.0], ["stim", "rest"]))
    path = tmp_path_factory.mktemp("edf") / "upload.edf"
    mne.export.export_raw(path, raw, fmt="edf", verbose="error")
    return path.read_bytes()


def test_every_page_file_is_registered_and_exists():
    registered = _registered_pages()
    on_disk = sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py")
                     if not p.name.startswith("_"))
    assert sorted(registered) == on_disk
    assert registered[0] == UPLOAD


def test_every_page_renders_without_a_recording():
    at = _app()
    assert any("not a medical device" in c.value for c in at.sidebar.caption)
    assert at.radio(key="source").value == "Sample recording" and at.info
    for page in _registered_pages():
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert at.title, page
    # the model card page shows the card or says that there is none yet
    card = ROOT / "brainkit" / "assets" / "brainkit-base" / "MODEL_CARD.md"
    at.switch_page("pages/9_Model_card.py").run()
    assert (len(at.markdown) > 0) if card.is_file() else ("not trained yet" in at.info[0].value)


@pytest.mark.skipif(not SAMPLE_NAMES, reason="sample_data/ holds no recording yet")
@pytest.mark.parametrize("name", SAMPLE_NAMES or ["none"])
def test_sample_recording_on_each_page(name):
    at = _app()
    assert at.selectbox(key="sample").options == SAMPLE_NAMES
    at.selectbox(key="sample").select(name).run()
    _assert_upload_page_shows(at)
    assert at.session_state["recording_key"].startswith(f"sample:{name}:")


def test_uploaded_file_loads_once_and_is_replaced_by_the_next(edf_bytes):
    at = _app()
    at.radio(key="source").set_value("My file").run()
    at.file_uploader(key="upload").set_value(("upload.edf", edf_bytes, "application/octet-stream"))
    at.run()
    assert any("upload.edf" in c.value for c in at.sidebar.caption)
    _assert_upload_page_shows(at)
    first = at.session_state["recording"]
    assert len(first.annotations) == 2 and "quality" in at.session_state["results"]
    at.switch_page(UPLOAD).run()
    at.slider[0].set_value(2).run()  # a rerun on another page of traces reads nothing again
    assert not at.exception and at.session_state["recording"] is first
    assert at.radio(key="source").value == "My file"  # kept while the user was on Sensors
    assert any("upload.edf" in c.value for c in at.sidebar.caption)
    assert at.metric[2].value == "40.0 s"
    # a different file replaces the recording and forgets its results
    at.file_uploader(key="upload").set_value(("other.edf", edf_bytes, "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["recording"] is not first


def test_multi_file_brainvision_upload(tmp_path):
    from pybv import write_brainvision

    rng = np.random.default_rng(1)
    write_brainvision(data=rng.normal(0, 20e-6, (len(EEG_NAMES), 500 * 20)), sfreq=500.0,
                      ch_names=EEG_NAMES, fname_base="erp", folder_out=tmp_path, unit="µV")
    files = [(p.name, p.read_bytes(), "application/octet-stream")
             for p in sorted(tmp_path.glob("erp.*"))]
    at = _app()
    at.radio(key="source").set_value("My file").run()
    at.file_uploader(key="upload").set_value(files).run()
    _assert_upload_page_shows(at)
    assert at.session_state["recording"].format == "BrainVision"


def test_damaged_file_shows_one_error_line_and_the_app_stays_usable(edf_bytes):
    at = _app()
    at.radio(key="source").set_value("My file").run()
    at.file_uploader(key="upload").set_value(("broken.edf", b"0       not an edf header" * 20,
                                              "application/octet-stream")).run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "\n" not in at.error[0].value
    assert at.session_state["recording"] is None and not at.get("plotly_chart")
    at.switch_page(SENSORS).run()
    assert not at.exception and at.info
    at.switch_page(UPLOAD).run()
    at.file_uploader(key="upload").set_value(("good.edf", edf_bytes, "application/octet-stream"))
    at.run()
    _assert_upload_page_shows(at)


def test_a_text_export_without_a_rate_is_offered_the_rate_its_name_gives():
    values = "\n".join(f"{v:.1f}" for v in 20 * np.sin(np.arange(3000) / 7.0)).encode()
    at = _app()
    at.radio(key="source").set_value("My file").run()
    at.file_uploader(key="upload").set_value(("night_N2_200Hz.txt", values, "text/plain")).run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "its name says 200 Hz" in at.error[0].value
    assert at.session_state["recording"] is None
    at.button(key="rate_from_name").click().run()  # the user accepts it: nothing is assumed before
    assert not at.exception, at.exception
    assert at.number_input(key="sfreq").value == 200.0 and not at.error
    assert at.session_state["recording"].sfreq == 200.0
    assert at.session_state["recording"].duration_s == pytest.approx(15.0)
    fresh = _app()  # a name that gives no rate: asked for one, nothing offered
    fresh.radio(key="source").set_value("My file").run()
    fresh.file_uploader(key="upload").set_value(("night.txt", values, "text/plain")).run()
    assert "no sampling rate" in fresh.error[0].value and not fresh.button


# ------------------------------------------------------------------------------------ model pages


@pytest.fixture
def model_env(monkeypatch, tiny_model):
    monkeypatch.setenv("BRAINKIT_CHECKPOINT", str(tiny_model[0]))
    monkeypatch.setenv("BRAINKIT_LM", str(tiny_model[1]))


def _page(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, (page, at.exception)
    assert not at.error, (page, [e.value for e in at.error])
    return at


def _assert_tokens_page(at: AppTest) -> None:
    _page(at, TOKENS)
    assert [m.label for m in at.metric] == ["Windows tokenized", "Reconstruction r", "Codes used (mean of levels)"]
    _assert_figures_have_data(at, 4)  # codes, codebook usage, reconstruction, code waveform
    tokens = at.session_state["results"][("tokens", 4.0)]
    assert tokens.codes.shape[1:] == (4, 16, 2)  # K sources, 4 s of 0.25-s patches, L levels
    at.radio(key="tokens_level").set_value(2).run()  # one level
    assert not at.exception and len(_figures(at)[0]["data"]) == 1


def _assert_decode_page(at: AppTest, task: str, n_tasks: int = 1) -> None:
    _page(at, DECODE)
    assert at.info and not at.get("plotly_chart")
    at.selectbox(key="decode_task").select(task).run()
    at.button(key="decode").click().run()
    assert not at.exception, at.exception
    _assert_figures_have_data(at, 2 * n_tasks)  # answers (or hypnogram) and probabilities
    assert [b.proto.label for b in at.get("download_button")] == ["CSV", "EDF+ with answers",
                                                                  "HTML report"]
    summary = at.dataframe[0].value
    assert list(summary.columns) == ["task", "answer", "n_windows", "fraction", "mean_probability"]
    predictions = at.session_state["results"]["predictions"]
    assert len(predictions) == n_tasks
    assert summary["n_windows"].sum() == sum(len(p.starts_s) for p in predictions.values())


def _assert_explain_page(at: AppTest, task: str) -> None:
    _page(at, EXPLAIN)
    at.selectbox(key="explain_task").select(task).run()
    assert at.info and not at.get("plotly_chart")
    at.button(key="explain").click().run()
    assert not at.exception, at.exception
    assert at.metric[0].label == "Answer"
    # how far the maps add up to the change of the answer, as a caption (or a warning beyond 5 %),
    # by default from windows across the recording (silence alone where it has one window)
    said = " ".join(m.value for m in [*at.caption, *at.warning])
    start = at.radio(key="explain_start")
    assert "add up to the change of log p(" in said
    (ex,) = [v for k, v in at.session_state["results"].items() if isinstance(k, tuple) and k[0] == "explain"]
    negligible = abs(float(ex["logprob"] - ex["baseline_logprob"])) < 0.01  # the page's NEGLIGIBLE_CHANGE_NATS
    assert negligible == any("The answer hardly differs" in m.value for m in at.info), float(ex["logprob"])
    if len(start.options) > 1:
        assert start.value == start.options[0] and start.value.startswith("the rest of this recording")
        assert "windows across the recording (mean)" in said and "paths" in said
    else:
        assert "from silence" in said
    _assert_figures_have_data(at, 5)  # IG heatmap, topomap, 2 attention maps, token attribution


@pytest.mark.skipif(not SAMPLE_NAMES, reason="sample_data/ holds no recording yet")
@pytest.mark.parametrize("name", SAMPLE_NAMES or ["none"])
def test_model_pages_on_each_sample(name, model_env):
    at = _app()
    at.selectbox(key="sample").select(name).run()
    _assert_tokens_page(at)
    _assert_decode_page(at, SAMPLE_TASKS[name])
    if name == "sleep_night.edf":  # the hypnogram: W on top, N3 at the bottom
        assert _figures(at)[0]["layout"]["yaxis"]["ticktext"] == ["W", "REM", "N1", "N2", "N3"]
    _assert_explain_page(at, SAMPLE_TASKS[name])
    _page(at, CORRELATIONS)
    assert at.button(key="correlate") and not at.get("plotly_chart")


def test_model_pages_on_an_uploaded_file(edf_bytes, model_env):
    at = _app()
    at.radio(key="source").set_value("My file").run()
    at.file_uploader(key="upload").set_value(("upload.edf", edf_bytes, "application/octet-stream"))
    at.run()
    _assert_tokens_page(at)
    _assert_decode_page(at, "all tasks", n_tasks=9)
    at.text_input[0].input("What do you see?")
    at.button(key="ask").click().run()
    assert not at.exception, at.exception
    assert at.session_state["results"]["answers"][0]["question"] == "What do you see?"
    assert any(m.value.startswith("**0 s · What do you see?**") for m in at.markdown)
    _assert_explain_page(at, "p300")
    # integrated gradients from another window of the recording
    at.radio(key="explain_start").set_value("another window of this recording").run()
    at.button(key="explain").click().run()
    assert not at.exception, at.exception
    assert "from window 2" in _figures(at)[0]["layout"]["title"]["text"]
    # task correlations: a button, then three clustered matrices and the selection histograms
    _page(at, CORRELATIONS)
    at.number_input(key="correlation_windows").set_value(2).run()
    at.button(key="correlate").click().run()
    assert not at.exception, at.exception
    _assert_figures_have_data(at, 4)
    result = at.session_state["results"]["correlations"]
    assert result["n_windows"]["eyes"] == 2 and result["n_windows"]["sleep_stage"] == 1  # 40 s
    _page(at, DECODE)  # the choice and the results are kept: nothing to press again
    assert at.selectbox(key="decode_task").value == "all tasks" and len(_figures(at)) == 18
    at.selectbox(key="decode_task").select("eyes").run()
    assert len(_figures(at)) == 2 and [b.key for b in at.button] == ["ask"]  # no Decode button


def test_a_recording_without_a_signal_is_said_in_one_line_on_every_model_page(model_env, tmp_path):
    """Every electrode disconnected: Upload names them, each model page says so in one line
    instead of answering from nothing, and nothing crashes."""
    raw = mne.io.RawArray(np.zeros((len(EEG_NAMES), 256 * 20)), mne.create_info(EEG_NAMES, 256.0, "eeg"),
                          verbose="error")
    raw.save(tmp_path / "disconnected_raw.fif", verbose="error")
    at = _app()
    at.radio(key="source").set_value("My file").run()
    at.file_uploader(key="upload").set_value(("disconnected_raw.fif", (tmp_path / "disconnected_raw.fif").read_bytes(),
                                              "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception
    assert any(w.value.startswith(f"{len(EEG_NAMES)} channel(s) left out of decoding, flat: ") for w in at.warning)
    said = f"no EEG or MEG channel carries a signal: all {len(EEG_NAMES)} are flat"
    at.switch_page(TOKENS).run()
    assert not at.exception and [e.value[:len(said)] for e in at.error] == [said]
    at.switch_page(DECODE).run()
    at.selectbox(key="decode_task").select("eyes").run()
    at.button(key="decode").click().run()
    assert not at.exception and [e.value[:len(said)] for e in at.error] == [said]
    assert not at.get("plotly_chart")
    at.switch_page(EXPLAIN).run()
    assert not at.exception and [e.value[:len(said)] for e in at.error] == [said]


def test_model_pages_say_when_the_model_is_not_trained_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINKIT_CHECKPOINT", str(tmp_path))
    at = _app()
    at.selectbox(key="sample").select(SAMPLE_NAMES[0]).run()
    for page in (TOKENS, DECODE, EXPLAIN, CORRELATIONS):
        _page(at, page)
        if page == CORRELATIONS:  # the model is loaded only to compute the recording's matrices
            at.button(key="correlate").click().run()
        assert any("no trained tokenizer yet" in i.value for i in at.info), page
    save_tiny_tokenizer(tmp_path / "tokenizer")  # the tokenizer is trained before the decoder
    _page(at, TOKENS)
    _assert_figures_have_data(at, 4)
    for page in (DECODE, EXPLAIN, CORRELATIONS):
        _page(at, page)
        if page == CORRELATIONS:
            at.button(key="correlate").click().run()
        assert any("no trained decoder yet" in i.value for i in at.info), page


def test_correlations_page_shows_the_shipped_matrices_without_a_recording_or_the_model():
    from brainkit.models.checkpoint import load_correlations

    shipped = load_correlations()
    at = _page(_app(), CORRELATIONS)
    counts = _assert_figures_have_data(at, 3)  # routing, attribution, representation
    n, blank = len(shipped["tasks"]), len(shipped["attribution_unknown"]["tasks"])
    assert counts == [[n * n], [(n - blank) ** 2], [n * n]]  # unknown attribution cells left blank
    assert "Computed when the model was built, on validation windows of the shared corpus" in at.caption[0].value
    assert any(c.value.startswith("Blank cells: ") for c in at.caption) == bool(blank)
    assert sum(c.value.startswith("The share of query choices") for c in at.caption) == 1  # how to read it
    assert "No recording loaded yet" in at.info[-1].value and not at.button


def test_correlations_page_shows_the_checkpoints_matrices_at_once_and_computes_on_request(
        tmp_path, tiny_model, monkeypatch):
    import shutil

    from test_card import fake_correlations

    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(tiny_model[0], checkpoint)
    shipped = fake_correlations()  # routing and representation; attribution not computed
    (checkpoint / "correlations.json").write_text(json.dumps(shipped))
    monkeypatch.setenv("BRAINKIT_CHECKPOINT", str(checkpoint))
    monkeypatch.setenv("BRAINKIT_LM", str(tiny_model[1]))
    at = _page(_app(), CORRELATIONS)  # no recording, nothing pressed
    figures = _assert_figures_have_data(at, 2, 9)  # routing, representation: 3 x 3 cells each
    assert [f["layout"]["title"]["text"].split(":")[0] for f in _figures(at)] == ["Query selection",
                                                                                  "Representations"]
    assert _figures(at)[0]["data"][0]["x"] == shipped["order"] and figures == [[9], [9]]
    assert any("on a test" in c.value for c in at.caption)
    assert any("not computed (explanations do not reach" in i.value for i in at.info)
    assert any("No recording loaded yet" in i.value for i in at.info) and not at.button
    _page(at, UPLOAD).selectbox(key="sample").select("eyes_open_closed.edf").run()
    _page(at, CORRELATIONS)
    assert len(_figures(at)) == 2 and at.button(key="correlate").proto.label == "Compute for my recording"
    assert "correlations" not in at.session_state["results"]  # computed only when pressed
    at.number_input(key="correlation_windows").set_value(2).run()
    at.button(key="correlate").click().run()
    assert not at.exception, at.exception
    _assert_figures_have_data(at, 2 + 3 + 1)  # the checkpoint's two, the recording's three, selection
    assert at.session_state["results"]["correlations"]["n_windows"]["eyes"] == 2


def _card_checkpoint(tmp_path, monkeypatch, metrics: dict):
    (tmp_path / "MODEL_CARD.md").write_text("# A test card\n\nIts text.\n")
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    monkeypatch.setenv("BRAINKIT_CHECKPOINT", str(tmp_path))
    return _page(_app(), "pages/9_Model_card.py")


def test_model_card_leads_with_the_crossval_chart(tmp_path, monkeypatch):
    from test_card import fake_crossval

    at = _card_checkpoint(tmp_path, monkeypatch, {"decoder": {}, "crossval": fake_crossval()})
    chart, gaps = _figures(at)
    bars = [t for t in chart["data"] if t["type"] == "bar"]
    assert [t["name"] for t in gaps["data"]] == ["bandpower_logreg", "posterior_alpha", "yasa_staging"]
    assert "paired" in at.caption[1].value
    assert [b["name"] for b in bars] == ["brainkit", "bandpower_logreg", "posterior_alpha",
                                         "xdawn_tangent", "yasa_staging"]
    assert _values(bars[0]["error_y"]["array"]).astype(float) == pytest.approx(
        [np.std([0.9, 0.8, 0.85]), np.std([0.6, 0.7]), np.std([0.5, 0.52, 0.49, 0.55])])
    assert any("A test card" in m.value for m in at.markdown) and not at.info
    assert "1600 windows" in at.caption[0].value


def test_model_card_says_when_crossval_has_not_run(tmp_path, monkeypatch):
    at = _card_checkpoint(tmp_path, monkeypatch, {"decoder": {}})
    assert not _figures(at) and "has not been run for this checkpoint" in at.info[0].value
    assert any("A test card" in m.value for m in at.markdown)


SIMULATE = "pages/8_Simulate.py"


def _answers(at: AppTest) -> dict:
    """The Simulate page's answer table: task -> {answer: probability}."""
    table = at.dataframe[0].value  # the first table: the answers
    return {row.task: {a: float(p) for a, p in (part.rsplit(" ", 1) for part in row.probabilities.split(", "))}
            for row in table.itertuples()}


def test_simulate_page_lessons_and_use_this_recording(model_env):
    at = _page(_app(), SIMULATE)
    assert [b.key for b in at.button][:3] == [f"lesson_{name}" for name in
                                              ("Closing the eyes", "A motor rhythm over one hemisphere",
                                               "A night from wake to deep sleep")]
    _assert_figures_have_data(at, 4, [19, 1000, 100, 16])  # scalp map, traces, spectrum, codes
    assert set(_answers(at)) == set(TASK_IDS_ALL)
    at.selectbox(key="sim_region_0").select("frontal").run()  # the source moves: codes change
    assert not at.exception, at.exception
    assert "Codes changed since the previous scene" in _figures(at)[4]["layout"]["title"]["text"]
    at.button(key="lesson_A night from wake to deep sleep").click().run()
    assert not at.exception, at.exception
    assert at.number_input(key="sim_n").value == 4 and at.session_state["sim_duration"] == 300
    assert "sleep staging goes from W to N3" in at.info[0].value
    at.button(key="sim_use").click().run()
    recording = at.session_state["recording"]
    assert recording.name.startswith("SIMULATED: beta at frontal") and recording.format == "simulated"
    assert at.session_state["results"] == {} and at.session_state["recording_key"].startswith("simulated:")
    _assert_decode_page(at, "sleep_stage")  # as if uploaded
    assert any("Loaded: **SIMULATED" in c.value for c in at.sidebar.caption)


@pytest.mark.slow
def test_simulate_page_alpha_source_moves_the_eyes_answer():
    """The shipped model and language model: p(closed) falls when alpha moves forward, rises with its
    amplitude (never falls over four steps, and crosses one half). Measured with the eyes head that
    reads the spectrum: 0.97 occipital, 0.83 frontal; 0.19, 0.36, 0.84, 0.97 at 20-120 nA·m."""
    at = _page(_app(), SIMULATE)
    closed = lambda: _answers(at)["eyes"]["closed"]  # noqa: E731
    back = closed()
    at.selectbox(key="sim_region_0").select("frontal").run()
    assert closed() < back - 0.1
    at.selectbox(key="sim_region_0").select("occipital").run()
    steps = []
    for amplitude in (20.0, 40.0, 80.0, 120.0):
        at.slider(key="sim_amp_0").set_value(amplitude).run()
        assert not at.exception, at.exception
        steps.append(closed())
    # rises step by step until the answer saturates (p(closed) is shown to two decimals)
    assert all(b >= a for a, b in zip(steps, steps[1:])) and steps[1] > steps[0], steps
    assert steps[0] < 0.5 < steps[-1], steps
    at.toggle(key="sim_fast").set_value(True).run()  # the read-out head alone: the same direction
    assert not at.exception and any("read-out head's answers" in m.value for m in at.markdown)
    assert _answers(at)["eyes"]["closed"] > 0.5


# ------------------------------------------------------------------------------------ Teach (issue 16)
TEACH = "pages/7_Teach.py"


def _teach_inputs(at: AppTest, annotations=("eyes open", "eyes closed"), task_id="eyes_sim", window=4.0,
                  stride=4.0) -> AppTest:
    _page(at, TEACH)
    at.multiselect(key="teach_annotations").set_value(list(annotations)).run()
    at.text_input(key="teach_id").set_value(task_id).run()
    at.number_input(key="teach_window").set_value(window).run()
    at.number_input(key="teach_stride").set_value(stride).run()
    assert not at.exception, at.exception
    return at


def test_teach_page_teaches_a_task_that_only_its_user_decodes(model_env):
    at = _app()
    at.selectbox(key="sample").select("eyes_open_closed.edf").run()
    _teach_inputs(at)
    counts = at.table[0].value
    assert list(counts["label"]) == ["eyes_open", "eyes_closed"] and list(counts["windows"]) == [21, 21]
    assert not at.warning
    at.button(key="teach").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    curve = _figures(at)[0]
    assert [t["name"] for t in curve["data"]] == [
        "brainkit (read-out head)", "brainkit (the recordings' channels)",
        "brainkit (spatial filters of the recordings' channels)",
        "brainkit (the readings of the recordings' channels combined)", "band power + logistic regression",
        "CSP + LDA"]
    smallest = at.session_state["taught"]["eyes_sim"].report["cross_validation"]["train_per_class"]
    assert 10 < smallest < 21 and [int(x) for x in curve["data"][0]["x"]] == [10, smallest]  # then all
    comparison = at.dataframe[0].value
    assert list(comparison["method"]) == [t["name"] for t in curve["data"]]
    # the 10-per-class point is a mean over random draws of the windows: its spread is shown
    assert all(t["error_y"]["visible"] and len(t["error_y"]["array"]) == 2 for t in curve["data"])
    assert "10 per class ±" in comparison.columns
    report = at.session_state["taught"]["eyes_sim"].report
    gaps = at.dataframe[1].value  # the kept head minus each classical method, paired
    assert list(gaps["kept head minus"]) == ["band power + logistic regression", "CSP + LDA"]
    assert list(gaps.columns)[1:] == ["10 per class", f"{smallest} per class (all)"]
    gap = report["cross_validation"]["curve_gap"]["10"]["CSP + LDA"]
    assert gaps["10 per class"].iloc[1] == f"{100 * gap['mean']:+.1f} ± {100 * gap['se']:.1f}"
    assert list(comparison["method"][comparison["in the pack"]]) == [report["head"]]
    assert comparison["balanced accuracy (%)"].iloc[0] > 90  # posterior alpha, simulated: learned out of fold
    assert "eyes_sim" in at.session_state["taught"] and "for you only" in at.success[0].value
    _assert_decode_page(at, "eyes_sim")
    assert list(at.session_state["results"]["predictions"]["eyes_sim"].answers) == ["eyes_open", "eyes_closed"]
    _page(at, EXPLAIN)
    at.selectbox(key="explain_task").select("eyes_sim").run()
    at.button(key="explain").click().run()
    assert not at.exception and at.metric[0].value in ("eyes_open", "eyes_closed")
    # a taught task is decided by its read-out head: its contributions lead, then the five maps
    _assert_figures_have_data(at, 6)
    other = _app()  # another user of the same app server: the shared model does not know the task
    other.selectbox(key="sample").select("eyes_open_closed.edf").run()
    _page(other, DECODE)
    assert "eyes_sim" not in other.selectbox(key="decode_task").options


@pytest.mark.parametrize("inputs, kind, message", [
    (dict(annotations=("eyes open",)), "info", "two or more classes"),
    (dict(window=50.0), "error", "no 50-s window fits inside the annotations"),
    (dict(task_id="Eyes Sim"), "error", "lower-case letters"),
    (dict(task_id="eyes"), "error", "built-in task"),
    (dict(stride=0.0), "warning", "class 'eyes_open' has only 3 window(s)")])
def test_teach_page_says_what_is_wrong_in_one_line(model_env, inputs, kind, message):
    at = _app()
    at.selectbox(key="sample").select("eyes_open_closed.edf").run()
    _teach_inputs(at, **inputs)
    shown = [e.value for e in getattr(at, kind)]
    assert any(message in line for line in shown), shown
    if kind == "error":
        assert len(at.error) == 1 and "\n" not in at.error[0].value and not at.get("plotly_chart")


def test_teach_page_names_the_channels_a_recording_lacks(model_env, tmp_path):
    """Two uploads, one without Fz (a bad channel removed): the page says the task is taught on the
    18 channels both have, before anything is taught."""
    import mne

    raw = mne.io.read_raw_edf(SAMPLES / "eyes_open_closed.edf", preload=True, verbose="error")
    fewer = raw.ch_names[0]
    raw.drop_channels([fewer]).save(tmp_path / "fewer_raw.fif", verbose="error")
    at = _app()
    _page(at, TEACH)
    at.radio(key="teach_source").set_value("labelled recordings I upload").run()
    at.file_uploader(key="teach_files").set_value([
        ("night1.edf", (SAMPLES / "eyes_open_closed.edf").read_bytes(), "application/octet-stream"),
        ("night2_raw.fif", (tmp_path / "fewer_raw.fif").read_bytes(), "application/octet-stream")]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    _teach_inputs(at, task_id="eyes_two")
    at.radio(key="teach_source").set_value("labelled recordings I upload").run()
    warnings = [w.value for w in at.warning]
    assert any(f"taught on the {len(raw.ch_names)} every one has; {fewer} left out" in w for w in warnings), warnings


def test_teach_page_learns_from_several_uploaded_recordings(model_env):
    data = (SAMPLES / "eyes_open_closed.edf").read_bytes()
    at = _app()  # no recording loaded: the uploads are the labels
    _page(at, TEACH)
    at.radio(key="teach_source").set_value("labelled recordings I upload").run()
    assert at.info and "Upload two or more" in at.info[0].value
    at.file_uploader(key="teach_files").set_value([(f"night{i}.edf", data, "application/octet-stream")
                                                   for i in (1, 2)]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.multiselect(key="teach_annotations").options == ["eyes closed", "eyes open"]
    _teach_inputs(at, task_id="eyes_two")
    at.radio(key="teach_source").set_value("labelled recordings I upload").run()  # kept
    assert list(at.table[0].value["windows"]) == [42, 42]  # 21 per class in each of the two files
    at.button(key="teach").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    cv = at.session_state["taught"]["eyes_two"].report["cross_validation"]
    assert (cv["unit"], cv["n_folds"]) == ("recording", 2)  # each file holds both classes: left out in turn
