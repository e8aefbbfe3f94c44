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
