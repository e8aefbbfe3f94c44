"""Shared fixtures: where the real corpus and the sample recordings are."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SAMPLES = ROOT / "sample_data"

# The task table of DESIGN.md ("Tasks"): answers, window (s), window start from the event (s).
DESIGN_TASKS = {
    "workload": (("low", "high"), 4.0, 0.0),
    "eyes": (("open", "closed"), 4.0, 0.0),
    "sleep_stage": (("W", "N1", "N2", "N3", "REM"), 30.0, 0.0),
    "motor_imagery": (("left_hand", "right_hand"), 4.0, 0.0),
    "seizure": (("normal", "seizure"), 4.0, 0.0),
    "p300": (("target", "nontarget"), 1.0, -0.1),
    "n170": (("face", "house"), 1.0, -0.1),
    "ssvep": (("20hz", "30hz"), 2.0, 0.5),
    "auditory_oddball": (("deviant", "standard"), 1.0, -0.1),
}


@pytest.fixture(autouse=True)
def _restore_logging():
    """``brainkit.cli.main`` run in the test process adds a stderr handler (bound to pytest's
    captured stream, closed after the test): take it away after every test, so that no later
    test's log line goes to a closed stream."""
    from brainkit._logging import logger

    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data``; tests that use it skip when it is absent (a user's fresh machine)."""
    if not DATA.is_dir():
        pytest.skip(f"real corpus not found at {DATA} (it sits beside the project in development and CI)")
    return DATA


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


def save_tiny_tokenizer(folder: Path) -> None:
    """A tiny random tokenizer in ``folder`` (``config.json`` + ``model.safetensors``)."""
    import torch

    from brainkit.models.tokenizer import BrainTokenizer, BrainTokenizerConfig

    torch.manual_seed(0)
    BrainTokenizer(BrainTokenizerConfig(d_model=16, n_sources=4, codebook_size=32, n_levels=2)
                   ).save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny random checkpoint and language model: (checkpoint folder, language-model folder).

    The language model shares SmolLM2's tokenizer; everything else is random and small, so tests
    of the whole path (pages, commands, exports) run in seconds.
    """
    import torch

    from brainkit.models.decoder import BrainDecoder, BrainDecoderConfig
    from brainkit.models.llm import tiny_language_model

    root = tmp_path_factory.mktemp("tiny_model")
    save_tiny_tokenizer(root / "checkpoint" / "tokenizer")
    torch.manual_seed(0)
    lm, tokenizer = tiny_language_model()
    BrainDecoder(BrainDecoderConfig(lm_hidden=lm.config.hidden_size, latent_dim=16, n_sources=4,
                                    d_model=32, n_soft_tokens=4, pool_size=3)
                 ).save_pretrained(root / "checkpoint" / "decoder")
    lm.save_pretrained(root / "lm")
    tokenizer.save_pretrained(root / "lm")
    return root / "checkpoint", root / "lm"


def write_identified_edf(path, signals, *, name="Jane_Doe", additional=(), annotation="stimulus"):
    """Write an EDF+ whose header names a patient (MRN-4711-0815, born 1961-03-14), a hospital,
    a technician and an amplifier serial: what de-identification must remove."""
    import datetime

    import edfio

    edfio.Edf(
        signals,
        patient=edfio.Patient(code="MRN-4711-0815", sex="F", birthdate=datetime.date(1961, 3, 14),
                              name=name, additional=list(additional)),
        recording=edfio.Recording(startdate=datetime.date(2019, 5, 2),
                                  hospital_administration_code="StMaryHosp-77",
                                  investigator_technician_code="TechnicianSmith",
                                  equipment_code="AmpSerial-99813"),
        annotations=[edfio.EdfAnnotation(1.0, None, annotation)],
    ).write(path)
    return path
