"""Batched generation with transformers (CPU or CUDA): shared-prefix KV reuse, a preallocated KV
cache, per-row seeded sampling and PEFT adapter selection. Imported only when the HF backend is
used (or by code that holds an in-memory model)."""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from peft import PeftModel, get_peft_model_state_dict
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from ..prompts import render_chat
from .base import BASE_ADAPTER, Completion, SamplingParams

# Below this many shared tokens a batch is prefilled whole: the saving would not pay for the extra pass.
MIN_PREFIX_TOKENS = 64


@dataclass(frozen=True)
class Batch:
    """Rows generated together; all share `prompts[rows[0]][:prefix_len]`, computed once."""

    rows: list[int]
    prefix_len: int = 0


def common_prefix_len(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def plan_batches(prompts: list[list[int]], groups: list, batch_size: int, min_prefix: int | None) -> list[Batch]:
    """Split rows into batches. Rows with the same group key (the same conversation up to its last
    message) are batched together so their shared prefix is long; the rest are batched by length.
    Every batch then reuses its rows' longest common token prefix when that is at least
    `min_prefix` tokens (None: never). Each row keeps at least one token of its own, whose logits
    start decoding."""
    by_group: dict = {}
    for row, key in enumerate(groups):
        by_group.setdefault(key, []).append(row)
    shared = [rows for rows in by_group.values() if len(rows) > 1]
    single = [rows[0] for rows in by_group.values() if len(rows) == 1]
    batches = []
    for rows in [*shared, single]:
        rows = sorted(rows, key=lambda r: len(prompts[r]))
        for i in range(0, len(rows), batch_size):
            chunk = rows[i : i + batch_size]
            prefix = 0
            if min_prefix is not None:
                first = prompts[chunk[0]]
                shared_len = min(common_prefix_len(first, prompts[r]) for r in chunk)
                prefix = min(shared_len, min(len(prompts[r]) for r in chunk) - 1)
                if prefix < min_prefix:
                    prefix = 0
            batches.append(Batch(chunk, prefix))
    return batches


def row_seed(seed: int, tokens: list[int], sample: int) -> int:
    """Each sampled row draws from its own RNG, keyed by content rather than position, so a
    sample does not depend on what else was batched with it (or on the backend's batching)."""
    h = hashlib.sha256(f"{seed}:{sample}:".encode())
    h.update(json.dumps(tokens).encode())
    return int.from_bytes(h.digest()[:8], "little") & ((1 << 63) - 1)


class HFGenerator:
    """Batched generation with a transformers causal LM (plain or PEFT), KV cache on.

    Rows are sorted by length to cut padding; rows that share a long token prefix (the BFCL system
    prompt with its tools is most of a prompt) prefill that prefix once at batch size 1 and expand
    its cache over the batch, then feed only their own suffixes. With a `peft.PeftModel`,
    `adapter` picks the adapter a call generates with (nothing is merged; "__base__" is the base).
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        batch_size: int = 8,
        adapter: str | None = None,
        min_prefix_tokens: int | None = MIN_PREFIX_TOKENS,
        info: dict | None = None,
        chat_template_kwargs: dict | None = None,
    ):
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.adapter = adapter
        self.min_prefix_tokens = min_prefix_tokens
        self.info = info
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.stop_ids = stop_ids(model, tokenizer)

    def describe(self) -> dict:
        weight = next(self.model.parameters())
        info = self.info or {
            "backend": "hf",
            "model": getattr(self.model, "name_or_path", type(self.model).__name__),
            "fingerprint": weights_fingerprint(self.model, self.adapter),
        }
        return {**info, "adapter": self.adapter, "device": str(weight.device),
                "dtype": str(weight.dtype).removeprefix("torch.")}

    def encode(self, conversations: list[list[dict]]) -> list[list[int]]:
        texts = [render_chat(self.tokenizer, c, **self.chat_template_kwargs) for c in conversations]
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def generate(
        self, conversations: list[list[dict]], params: SamplingParams, seeds: list[int] | None = None
    ) -> list[list[Completion]]:
        """`seeds`: one sampling seed per conversation (default `params.seed` for all), so requests
        with their own seeds can share a call."""
        prompts = self.encode(conversations)
        seeds = seeds or [params.seed] * len(prompts)
        samples = 1 if params.greedy else params.n
        rows = [(c, s) for c in range(len(prompts)) for s in range(samples)]
        row_prompts = [prompts[c] for c, _ in rows]
        groups = [json.dumps(conversations[c][:-1], sort_keys=True) for c, _ in rows]
        row_seeds = [None if params.greedy else row_seed(seeds[c], prompts[c], s) for c, s in rows]
        outputs: list = [None] * len(rows)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), _active_adapter(self.model, self.adapter):
                for batch in plan_batches(row_prompts, groups, self.batch_size, self.min_prefix_tokens):
                    results = self._generate_batch(
                        [row_prompts[r] for r in batch.rows], batch.prefix_len, [row_seeds[r] for r in batch.rows], params
                    )
                    for r, result in zip(batch.rows, results):
                        outputs[r] = result
        finally:
            self.model.train(was_training)
        completions: list[list[Completion]] = [[] for _ in prompts]
        for (c, _), (tokens, reason) in zip(rows, outputs):
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            completions[c].append(Completion(text, len(prompts[c]), len(tokens) + (reason == "stop"), reason))
        if samples == 1:
            completions = [c * params.n for c in completions]
        return completions

    def _generate_batch(self, prompts: list[list[int]], prefix_len: int, seeds: list, params: SamplingParams):
        """Decode one batch; returns (tokens without the stop token, finish reason) per row.

        Rows are right-padded, so the prefill needs no padding mask: attention is exactly causal and
        takes the fast kernel (a left-padded batch forces a materialised mask, which on CPU made
        batched prefill slower than one row at a time). The pad slots are masked out while decoding.
        """
        device = next(self.model.parameters()).device
        n = len(prompts)
        lengths = [len(p) - prefix_len for p in prompts]
        width = max(lengths)
        cache = _preallocated_cache(self.model.config, prefix_len + width + params.max_new_tokens)
        if prefix_len:
            prefix = torch.tensor([prompts[0][:prefix_len]], device=device)
            self._forward(prefix, None, torch.arange(prefix_len, device=device)[None], cache)
            cache.batch_repeat_interleave(n)
        padded = [p[prefix_len:] + [self.pad_id] * (width - k) for p, k in zip(prompts, lengths)]
        ids = torch.tensor(padded, device=device)
        positions = torch.arange(prefix_len, prefix_len + width, device=device).expand(n, -1)
        last = sorted({k - 1 for k in lengths})
        logits = self._forward(ids, None, positions, cache, keep=torch.tensor(last, device=device))
        logits = logits[torch.arange(n), [last.index(k - 1) for k in lengths]]
        mask = torch.tensor([[1] * (prefix_len + k) + [0] * (width - k) for k in lengths], device=device)
        position = torch.tensor([[prefix_len + k - 1] for k in lengths], device=device)
        generators = [None if s is None else torch.Generator(device).manual_seed(s) for s in seeds]

        active = list(range(n))
        tokens: list[list[int]] = [[] for _ in range(n)]
        reasons = ["length"] * n
        for step in range(params.max_new_tokens):
            chosen = _select(logits, params, [generators[r] for r in active]).tolist()
            keep = []
            for i, (row, tok) in enumerate(zip(active, chosen)):
                if tok in self.stop_ids:
                    reasons[row] = "stop"
                else:
                    tokens[row].append(tok)
                    keep.append(i)
            if not keep or step == params.max_new_tokens - 1:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, device=device)
                cache.batch_select_indices(index)
                mask, position = mask[index], position[index]
                chosen = [chosen[i] for i in keep]
                active = [active[i] for i in keep]
            mask = torch.cat([mask, mask.new_ones(len(active), 1)], 1)
            position = position + 1
            step_ids = torch.tensor(chosen, device=device)[:, None]
            logits = self._forward(step_ids, mask, position, cache)[:, -1]
        return [(tokens[r], reasons[r]) for r in range(n)]

    def _forward(self, ids, mask, positions, cache, keep=1):
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=keep,
        )
        return out.logits.float()


@contextmanager
def _active_adapter(model, adapter: str | None):
    """Generate with one adapter of a PEFT model (BASE: none), then restore the active one.

    Switching once per call is cheaper than PEFT's per-forward `adapter_names` routing, which
    re-registers hooks on every decoding step. `set_adapter` also moves `requires_grad` to the
    adapter it activates, so restoring it leaves the trainable adapter as it was."""
    if adapter is None or not isinstance(model, PeftModel):
        yield
    elif adapter == BASE_ADAPTER:
        with model.disable_adapter():
            yield
    elif adapter == model.active_adapter:
        yield
    else:
        previous = model.active_adapter
        model.set_adapter(adapter)
        try:
            yield
        finally:
            model.set_adapter(previous)


def _preallocated_cache(config, capacity: int):
    """A DynamicCache whose full-attention layers write into buffers sized for the whole batch
    (prompt + max_new_tokens) instead of concatenating, i.e. reallocating and copying the entire
    cache, at every decoding step. Other layer kinds (sliding windows) keep their own class."""
    cache = DynamicCache(config=config)
    cache.layers = [PreallocatedLayer(capacity) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


class PreallocatedLayer(DynamicLayer):
    """A full-attention cache layer over buffers of `capacity` positions (see `_preallocated_cache`)."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def lazy_initialization(self, key_states, value_states) -> None:
        super().lazy_initialization(key_states, value_states)
        batch, heads, _, _ = key_states.shape
        self.key_buffer = key_states.new_empty(batch, heads, self.capacity, key_states.shape[-1])
        self.value_buffer = value_states.new_empty(batch, heads, self.capacity, value_states.shape[-1])

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        self.key_buffer[:, :, self.length : end] = key_states
        self.value_buffer[:, :, self.length : end] = value_states
        self.length = end
        self._views()
        return self.keys, self.values

    def _views(self) -> None:
        self.keys = self.key_buffer[:, :, : self.length]
        self.values = self.value_buffer[:, :, : self.length]

    def get_seq_length(self) -> int:
        return self.length

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.length:
            self.key_buffer = self.key_buffer.repeat_interleave(repeats, dim=0)
            self.value_buffer = self.value_buffer.repeat_interleave(repeats, dim=0)
            self._views()

    def batch_select_indices(self, indices) -> None:
        if self.length:
            self.key_buffer = self.key_buffer[indices]
            self.value_buffer = self.value_buffer[indices]
            self._views()


def _select(logits, params: SamplingParams, generators: list):
    """Greedy argmax, or temperature / top-p sampling with each row's own generator."""
    if params.greedy:
        return logits.argmax(-1)
    probs = torch.softmax(logits / params.temperature, -1)
    if params.top_p < 1:
        sorted_probs, order = probs.sort(-1, descending=True)
        drop = sorted_probs.cumsum(-1) - sorted_probs > params.top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    # Inverse-CDF sampling: one uniform draw per row from its own generator (torch.multinomial
    # draws one number per vocabulary entry, which dominated decoding time on small models).
    u = torch.stack([torch.rand((), generator=g, device=probs.device) for g in generators])
    cdf = probs.cumsum(-1)
    index = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None]).squeeze(-1)
    return index.clamp(max=probs.shape[-1] - 1)


def stop_ids(model, tokenizer) -> set[int]:
    ids = {tokenizer.eos_token_id}
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    ids.update(eos if isinstance(eos, list) else [eos])
    return {i for i in ids if i is not None}


def weights_fingerprint(model, adapter: str | None = None) -> str:
    """A content hash of the weights that produce the completions: the adapter's own weights for a
    PEFT model (the base is fixed), else every parameter. Lets an in-memory model be recorded."""
    if isinstance(model, PeftModel) and adapter != BASE_ADAPTER:
        state = get_peft_model_state_dict(model, adapter_name=adapter or model.active_adapter)
    else:
        state = model.state_dict()
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]
