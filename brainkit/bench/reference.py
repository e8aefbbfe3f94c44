"""The NeuroLM-style reference decoder (arXiv 2409.00101) that brainkit's speed is compared with.

A GPT-2-size causal LM (random weights, built from its config) reads every 1-s channel patch as
one token, then a short text prompt, and generates the answer greedily; see
:class:`ReferenceDecoder`.
"""

from __future__ import annotations

import numpy as np
import torch

#: The reference's GPT-2 (124 M): layers, width, heads, vocabulary, positions; answer tokens.
GPT2_SMALL = dict(n_layer=12, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024)
REFERENCE_NEW_TOKENS = 5


class ReferenceDecoder(torch.nn.Module):
    """NeuroLM-style decoding: every channel patch is one token of a GPT-2-size causal LM.

    Each window (C, T) is cut into 1-s patches per channel; a patch's samples are projected to
    the LM width, plus a channel embedding and a time embedding; the C x P tokens (time-major)
    are followed by the prompt's token embeddings, and the LM generates ``new_tokens`` tokens
    greedily, logits of the last position only. Without ``kv_cache`` (the default) every step runs
    the whole sequence again, as NeuroLM's ``generate`` does (its loop calls the GPT-2 on the EEG
    tokens, the text and the answer so far, for each new token); with it, each step after the
    first runs one position against the cached keys and values.

    Parameters
    ----------
    patch_samples : int
        Samples per patch (1 s at the windows' rate).
    config : dict
        ``GPT2Config`` fields (default :data:`GPT2_SMALL`). Weights are random.
    new_tokens : int
    max_channels : int
        Size of the channel embedding table.
    kv_cache : bool
        Generate with a key/value cache (faster than NeuroLM's own procedure).
    """

    def __init__(self, patch_samples: int, config: dict | None = None,
                 new_tokens: int = REFERENCE_NEW_TOKENS, max_channels: int = 1024, seed: int = 0,
                 kv_cache: bool = False):
        from transformers import GPT2Config, GPT2LMHeadModel

        super().__init__()
        cfg = GPT2Config(**(config or GPT2_SMALL))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.lm = GPT2LMHeadModel(cfg).eval()
            width = cfg.n_embd
            self.patch = torch.nn.Linear(patch_samples, width)
            self.channel = torch.nn.Embedding(max_channels, width)
            self.time = torch.nn.Embedding(cfg.n_positions, width)
        self.patch_samples, self.new_tokens, self.n_positions = patch_samples, new_tokens, cfg.n_positions
        self.kv_cache = kv_cache
        self.requires_grad_(False)
        self.eval()

    def n_patches(self, n_channels: int, n_times: int, n_prompt: int) -> int:
        """Patches per channel that fit: all of them, or the first ones within the context."""
        full = -(-n_times // self.patch_samples)
        room = (self.n_positions - n_prompt - self.new_tokens) // n_channels
        if room < 1:
            raise ValueError(f"{n_channels} channels do not fit in {self.n_positions} positions")
        return min(full, room)

    def layout(self, n_channels: int, n_times: int, n_prompt: int) -> dict:
        """Token counts of one window: EEG tokens, prompt, answer, and whether patches were cut."""
        p = self.n_patches(n_channels, n_times, n_prompt)
        full = -(-n_times // self.patch_samples)
        return {"channels": n_channels, "patches_per_channel": p, "eeg_tokens": n_channels * p,
                "prompt_tokens": n_prompt, "answer_tokens": self.new_tokens,
                "sequence": n_channels * p + n_prompt + self.new_tokens, "cut": p < full,
                "eeg_tokens_uncut": n_channels * full}

    def embed(self, x: torch.Tensor, prompt_ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings (N, C*P + L, width) of windows x (N, C, T) and a prompt (L,)."""
        N, C, T = x.shape
        P = self.n_patches(C, T, len(prompt_ids))
        S = self.patch_samples
        x = torch.nn.functional.pad(x, (0, max(0, P * S - T)))[..., :P * S]
        tokens = self.patch(x.reshape(N, C, P, S))  # (N, C, P, width)
        tokens = tokens + self.channel.weight[:C, None] + self.time.weight[:P]
        tokens = tokens.transpose(1, 2).reshape(N, P * C, -1)  # time-major
        text = self.lm.get_input_embeddings()(prompt_ids)[None].expand(N, -1, -1)
        return torch.cat([tokens, text], 1)

    @torch.inference_mode()
    def generate(self, x, prompt_ids) -> torch.Tensor:
        """Greedy answer token ids (N, new_tokens) for windows x (N, C, T)."""
        x = torch.as_tensor(x, dtype=torch.float32)
        prompt_ids = torch.as_tensor(prompt_ids, dtype=torch.long)
        x = self.embed(x, prompt_ids)
        if not self.kv_cache:
            answer = []
            for _ in range(self.new_tokens):  # the whole sequence each step, as NeuroLM
                if answer:
                    x = torch.cat([x, self.lm.get_input_embeddings()(answer[-1])[:, None]], 1)
                logits = self.lm(inputs_embeds=x, use_cache=False, logits_to_keep=1).logits
                answer.append(logits[:, -1].argmax(-1))
            return torch.stack(answer, 1)
        out = self.lm(inputs_embeds=x, use_cache=True, logits_to_keep=1)
        step = out.logits[:, -1].argmax(-1)  # (N,)
        answer = [step]
        for _ in range(self.new_tokens - 1):
            out = self.lm(input_ids=step[:, None], cache=out.cache,
                          use_cache=True, logits_to_keep=1)
            step = out.logits[:, -1].argmax(-1)
            answer.append(step)
        return torch.stack(answer, 1)

    def decode(self, windows, prompt_ids, batch_size: int) -> np.ndarray:
        """Answer ids of all windows (``brainkit.preprocess.Windows``), in batches."""
        out = [self.generate(windows.x[i:i + batch_size], prompt_ids)
               for i in range(0, len(windows), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros((0, self.new_tokens), int)


def reference_prompt(tokenizer, task_id: str, vocab_size: int) -> list[int]:
    """Token ids of a short NeuroLM-style text prompt for a task (question and options).

    Counted with the language model's BPE tokenizer (GPT-2-like); ids above the reference's
    vocabulary wrap around (only their number matters for speed).
    """
    from brainkit.tasks import get_task

    task = get_task(task_id)
    options = ", ".join(task.answer_texts[a] for a in task.answers)
    text = f"Question: {task.questions[0]} Options: {options}. Answer:"
    return [i % vocab_size for i in tokenizer(text, add_special_tokens=False)["input_ids"]]
