"""Checkpoint folders: safetensors only; any pickle-based weight file makes the folder refused.

(The command-line path is in test_cli_model.py; the language model's sha256 check in test_llm.py.)
"""

import pytest

from brainkit.models.checkpoint import PICKLE_SUFFIXES, checkpoint_dir
from brainkit.errors import BrainkitError


def _checkpoint(root):
    for part in ("tokenizer", "decoder"):
        (root / part).mkdir(parents=True)
        (root / part / "config.json").write_text("{}")
        (root / part / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    return root


def test_a_safetensors_checkpoint_is_accepted(tmp_path):
    root = _checkpoint(tmp_path / "ckpt")
    assert checkpoint_dir(root, "tokenizer") == root / "tokenizer"
    assert checkpoint_dir(root, "decoder") == root / "decoder"


@pytest.mark.parametrize("suffix", PICKLE_SUFFIXES + (".PT",))
@pytest.mark.parametrize("part, where", [("tokenizer", ""), ("decoder", "sub/deeper/")])
def test_a_pickle_anywhere_in_a_part_is_refused(tmp_path, suffix, part, where):
    root = _checkpoint(tmp_path / "ckpt")
    weights = root / part / f"{where}weights{suffix}"
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(b"\x80\x04K\x01.")  # a pickle of the number 1; never loaded
    with pytest.raises(BrainkitError, match="pickle") as err:
        checkpoint_dir(root, part)
    assert "\n" not in str(err.value) and weights.name in str(err.value)
    other = "decoder" if part == "tokenizer" else "tokenizer"
    assert checkpoint_dir(root, other) == root / other  # the clean part stays usable


def test_a_part_without_safetensors_is_refused(tmp_path):
    root = _checkpoint(tmp_path / "ckpt")
    (root / "decoder" / "model.safetensors").unlink()
    with pytest.raises(BrainkitError, match="model.safetensors"):
        checkpoint_dir(root, "decoder")
    with pytest.raises(BrainkitError, match="no tokenizer"):
        checkpoint_dir(tmp_path / "empty", "tokenizer")


def _configs(root, tokenizer_sfreq=256.0, decoder_sfreq=256.0, preprocess=None):
    """A checkpoint whose configs are real (weights are not read by the preprocessing check)."""
    from brainkit.models.decoder import BrainDecoderConfig
    from brainkit.models.tokenizer import BrainTokenizerConfig

    _checkpoint(root)
    BrainTokenizerConfig(sfreq=tokenizer_sfreq, preprocess=preprocess).save_pretrained(root / "tokenizer")
    BrainDecoderConfig(sfreq=decoder_sfreq).save_pretrained(root / "decoder")
    return root


def test_the_checkpoint_carries_its_preprocessing(tmp_path):
    from dataclasses import asdict, replace

    from brainkit.models.checkpoint import load_preprocess_config
    from brainkit.preprocess import DEFAULT

    trained = replace(DEFAULT, sfreq=128.0, h_freq=40.0, clip=8.0)
    root = _configs(tmp_path / "ckpt", 128.0, 128.0, preprocess=asdict(trained))
    assert load_preprocess_config(root) == trained  # saved with the weights, read back exactly
    assert load_preprocess_config() == DEFAULT  # the shipped checkpoint was trained with DEFAULT


def test_an_old_config_without_preprocessing_gets_the_default(tmp_path):
    import json

    from brainkit.models.checkpoint import load_preprocess_config
    from brainkit.preprocess import DEFAULT

    root = _configs(tmp_path / "ckpt")
    path = root / "tokenizer" / "config.json"
    config = json.loads(path.read_text())
    del config["preprocess"]
    path.write_text(json.dumps(config))
    assert load_preprocess_config(root) == DEFAULT


@pytest.mark.parametrize("tokenizer_sfreq, decoder_sfreq, wrong", [(256.0, 128.0, "decoder expects 128 Hz"),
                                                                  (128.0, 256.0, "tokenizer expects 128 Hz")])
def test_rates_that_disagree_with_the_preprocessing_are_refused(tmp_path, tokenizer_sfreq, decoder_sfreq, wrong):
    from brainkit.models.checkpoint import load_decoder_model, load_preprocess_config, load_tokenizer_model

    import json

    root = _configs(tmp_path / "ckpt", 256.0, decoder_sfreq, preprocess={"sfreq": 256.0})
    path = root / "tokenizer" / "config.json"  # written by hand: the config class refuses it too
    path.write_text(json.dumps({**json.loads(path.read_text()), "sfreq": tokenizer_sfreq}))
    for load in (load_preprocess_config, load_tokenizer_model, load_decoder_model):
        with pytest.raises(BrainkitError, match=wrong) as err:
            load(root)
        assert "resamples to 256 Hz" in str(err.value) and "\n" not in str(err.value)


def test_the_shipped_weights_fit_the_models_exactly():
    """The shared attention blocks keep each model's parameter names: every tensor of the shipped
    files has a place in the model and every parameter and buffer of the model has a tensor."""
    from safetensors import safe_open

    from brainkit.models.checkpoint import DEFAULT_CHECKPOINT, load_decoder_model, load_tokenizer_model

    for part, load in (("tokenizer", load_tokenizer_model), ("decoder", load_decoder_model)):
        with safe_open(DEFAULT_CHECKPOINT / part / "model.safetensors", "pt") as f:
            saved = set(f.keys())
        assert set(load().state_dict()) == saved, part
