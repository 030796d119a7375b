"""Text generation behind one interface, so evaluation, serving and the RL loop never care which
engine produced a completion.

Backends: `HFGenerator` (transformers on CPU/CUDA, batched, with shared-prefix KV reuse),
`VLLMGenerator` (used automatically on a GPU when vLLM is installed) and `OpenAIGenerator` (any
OpenAI-compatible chat endpoint). All take chat conversations and return `n` completions each, in
input order.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import urllib3
from urllib3.exceptions import LocationParseError, MaxRetryError
from urllib3.util import Retry, Url, parse_url

from .errors import InputError

BACKENDS = ("auto", "hf", "vllm", "openai")
BASE_ADAPTER = "__base__"  # generate with a PEFT model's base weights
# Below this many shared tokens a batch is prefilled whole: the saving would not pay for the extra pass.
MIN_PREFIX_TOKENS = 64
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings. temperature 0 is greedy; `seed` makes sampling reproducible."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    seed: int = 0

    def __post_init__(self):
        if self.max_new_tokens < 1 or self.n < 1:
            raise InputError(f"max_new_tokens and n must be >= 1, got {self.max_new_tokens} and {self.n}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise InputError(f"temperature must be >= 0 and top_p in (0, 1], got {self.temperature}, {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of sequence) or "length" (hit max_new_tokens)


class Generator(Protocol):
    def generate(self, conversations: list[list[dict]], params: SamplingParams) -> list[list[Completion]]:
        """`params.n` completions for each conversation, in input order."""

    def describe(self) -> dict:
        """What produced the completions (backend, model, fingerprint), for reproducibility records."""


# ----------------------------------------------------------------------------- HF transformers


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
        from .prompts import render_chat

        texts = [render_chat(self.tokenizer, c, **self.chat_template_kwargs) for c in conversations]
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def generate(
        self, conversations: list[list[dict]], params: SamplingParams, seeds: list[int] | None = None
    ) -> list[list[Completion]]:
        """`seeds`: one sampling seed per conversation (default `params.seed` for all), so requests
        with their own seeds can share a call."""
        import torch

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
        import torch

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
    from peft import PeftModel

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
    from transformers import DynamicCache

    cache = DynamicCache(config=config)
    layer_class = _preallocated_layer_class()
    cache.layers = [layer_class(capacity) if type(layer) is layer_class.__base__ else layer for layer in cache.layers]
    return cache


@lru_cache(maxsize=1)
def _preallocated_layer_class():
    from transformers.cache_utils import DynamicLayer

    class PreallocatedLayer(DynamicLayer):
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

    return PreallocatedLayer


def _select(logits, params: SamplingParams, generators: list):
    """Greedy argmax, or temperature / top-p sampling with each row's own generator."""
    import torch

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
    from peft import PeftModel, get_peft_model_state_dict

    if isinstance(model, PeftModel) and adapter != BASE_ADAPTER:
        state = get_peft_model_state_dict(model, adapter_name=adapter or model.active_adapter)
    else:
        state = model.state_dict()
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- vLLM


class VLLMGenerator:
    """vLLM with automatic prefix caching (the shared system prompt is computed once per seed);
    a PEFT adapter folder is served as a LoRA request on its base model."""

    def __init__(self, spec: str, *, dtype: str = "auto", gpu_memory_utilization: float = 0.85,
                 chat_template_kwargs: dict | None = None):
        from vllm import LLM

        from .models import adapter_base, fingerprint, resolve_model

        path = resolve_model(spec)
        base = adapter_base(path)
        options = {"enable_prefix_caching": True, "dtype": dtype, "gpu_memory_utilization": gpu_memory_utilization}
        self.lora = None
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        if base:
            from vllm.lora.request import LoRARequest

            rank = json.loads((Path(path) / "adapter_config.json").read_text())["r"]
            options.update(enable_lora=True, max_lora_rank=max(8, 1 << (rank - 1).bit_length()))  # vLLM's sizes
            self.lora = LoRARequest("adapter", 1, path)
        self.llm = LLM(model=resolve_model(base) if base else path, **options)
        self.info = {
            "backend": "vllm", "model": spec, "path": path, "base_model": base, "fingerprint": fingerprint(path)
        }

    def describe(self) -> dict:
        return dict(self.info)

    def generate(self, conversations: list[list[dict]], params: SamplingParams) -> list[list[Completion]]:
        from vllm import SamplingParams as VLLMSamplingParams

        sampling = VLLMSamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            seed=None if params.greedy else params.seed,
        )
        outputs = self.llm.chat(conversations, sampling, use_tqdm=False, lora_request=self.lora,
                                chat_template_kwargs=self.chat_template_kwargs or None)
        return [
            [
                Completion(o.text, len(out.prompt_token_ids), len(o.token_ids),
                           "stop" if o.finish_reason == "stop" else "length")
                for o in out.outputs
            ]
            for out in outputs
        ]


# ----------------------------------------------------------------------------- OpenAI-compatible endpoint

MAX_REPLY_BYTES = 16 * 2**20  # a chat reply is kilobytes; a body past this is not one
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_MAX = 60  # seconds: the longest Retry-After pause honoured


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1, IPv4-mapped 127.x); not a hostname that
    merely starts with 127."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


def may_receive_key(url: Url) -> bool:
    """An API key goes only over https or to this machine: plain http elsewhere can be read on the way."""
    return url.scheme == "https" or is_loopback_host(url.host or "")


def endpoint_url(base: str) -> Url:
    """The parsed `http(s)://host[:port]/path` of an endpoint spec; anything else is an InputError."""
    try:
        url = parse_url(base)
    except LocationParseError as e:
        raise InputError(f"endpoint URL {base!r} does not parse: {e}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InputError(f"endpoint URL {base!r}: expected http(s)://host[:port]/path")
    if url.auth:
        raise InputError(f"endpoint URL {base!r} carries credentials; put the key in an environment variable "
                         "and name it with api_key_env")
    return url


ENV_NAME_PATTERN = r"^([A-Za-z_][A-Za-z0-9_]*)?$"  # an environment variable's name, or "" for none


def api_key_from(env: str) -> str | None:
    """The key in environment variable `env` ("" names none), checked to fit in an HTTP header."""
    key = os.environ.get(env, "").strip() if env else ""
    if any(not 33 <= ord(c) < 127 for c in key):
        raise InputError(f"${env} holds characters that cannot go in an Authorization header")
    return key or None


@dataclass
class OpenAIGenerator:
    """An OpenAI-compatible chat endpoint, `http://host:port/v1::model-name` (the name may be left
    out: the endpoint's first model is used). Requests run in a thread pool; urllib3's retry policy
    retries 429, 5xx, timeouts and refused connections with exponential back-off and jitter,
    honouring Retry-After up to RETRY_AFTER_MAX seconds. Redirects are not followed, replies are
    read up to `max_reply_bytes`, and anything unexpected is an InputError naming the URL.

    The API key comes from the environment variable `api_key_env` and is sent only over https or
    to this machine; for plain http to another host it is withheld with a warning."""

    spec: str
    concurrency: int = 8
    timeout: float = 120.0
    max_retries: int = 4
    backoff: float = 0.5
    api_key_env: str = "OPENAI_API_KEY"
    max_reply_bytes: int = MAX_REPLY_BYTES
    # Sent as vLLM's `chat_template_kwargs` extension (`enable_thinking: false` for Qwen3 servers).
    chat_template_kwargs: dict | None = None
    base_url: str = field(init=False)
    model: str = field(init=False)
    headers: dict = field(init=False)

    def __post_init__(self):
        base, _, name = self.spec.partition("::")
        self.base_url = base.rstrip("/")
        url = endpoint_url(self.base_url)
        self.headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        key = api_key_from(self.api_key_env)
        if key and may_receive_key(url):
            self.headers["Authorization"] = f"Bearer {key}"
        elif key:
            log.warning(f"not sending ${self.api_key_env} to {self.base_url}: plain http to another host would "
                        "expose it; use https, or a tunnel to 127.0.0.1")
        retry = Retry(
            total=self.max_retries, status_forcelist=RETRY_STATUSES, allowed_methods=None,
            backoff_factor=self.backoff, backoff_jitter=self.backoff, retry_after_max=RETRY_AFTER_MAX,
        )
        self.http = urllib3.PoolManager(maxsize=self.concurrency, retries=retry, timeout=urllib3.Timeout(self.timeout))
        self.model = name or self._first_model()

    def describe(self) -> dict:
        from .models import fingerprint

        return {"backend": "openai", "model": self.spec, "endpoint": self.base_url, "served_model": self.model,
                "fingerprint": fingerprint(f"{self.base_url}::{self.model}")}

    def _first_model(self) -> str:
        reply = self._request("GET", "/models")
        try:
            name = reply["data"][0]["id"]
        except (KeyError, IndexError, TypeError):
            name = None
        if not isinstance(name, str) or not name:
            raise InputError(f"endpoint {self.base_url}/models returned no model list; name one as URL::model")
        return name

    def generate(self, conversations: list[list[dict]], params: SamplingParams) -> list[list[Completion]]:
        def one(messages: list[dict]) -> list[Completion]:
            body = {
                "model": self.model,
                "messages": messages,
                "max_tokens": params.max_new_tokens,
                "temperature": params.temperature,
                "top_p": params.top_p,
                "n": params.n,
                "seed": params.seed,
            }
            if self.chat_template_kwargs:
                body["chat_template_kwargs"] = self.chat_template_kwargs
            url = self.base_url + "/chat/completions"
            return _parse_chat_reply(self._request("POST", "/chat/completions", body), params.n, url)

        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            return list(pool.map(one, conversations))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _request(self, method: str, path: str, body: dict | None = None):
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode()
        try:
            response = self.http.request(method, url, body=data, headers=self.headers, redirect=False,
                                         preload_content=False)
        except MaxRetryError as e:
            attempts = f"{self.max_retries + 1} attempts" if self.max_retries else "1 attempt"
            raise InputError(f"endpoint {url} failed after {attempts}: {e.reason}") from None
        try:
            raw = self._read_reply(response, url)
        except (InputError, urllib3.exceptions.HTTPError) as e:
            response.close()  # an unread rest must not be taken for the next reply on this connection
            raise e if isinstance(e, InputError) else InputError(f"endpoint {url} broke off its reply: {e}") from None
        finally:
            response.release_conn()
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise InputError(f"endpoint {url} returned non-JSON: {raw[:120]!r}") from None

    def _read_reply(self, response, url: str) -> bytes:
        if 300 <= response.status < 400:
            raise InputError(f"endpoint {url} redirects (HTTP {response.status}) to {response.headers.get('Location')}; "
                             "redirects are not followed (they could carry the API key elsewhere): use the final URL")
        if response.status >= 400:
            detail = response.read(300).decode(errors="replace")
            sent = "" if "Authorization" in self.headers else " (no API key was sent)"
            raise InputError(f"endpoint {url} refused the request (HTTP {response.status}){sent}: {detail}")
        too_big = InputError(f"endpoint {url} sent a reply over {self.max_reply_bytes} bytes; a chat reply is far smaller")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_reply_bytes:
            raise too_big
        raw = response.read(self.max_reply_bytes + 1)
        if len(raw) > self.max_reply_bytes:
            raise too_big
        return raw


def _parse_chat_reply(reply, n: int, where: str) -> list[Completion]:
    """The `n` completions in an OpenAI chat reply; any other shape is an InputError naming `where`."""
    choices = reply.get("choices") if isinstance(reply, dict) else None
    messages = [c.get("message") if isinstance(c, dict) else None for c in choices] if isinstance(choices, list) else [None]
    if not all(isinstance(m, dict) and "content" in m for m in messages):
        raise InputError(f"endpoint {where} returned a reply without choices[].message.content: {str(reply)[:120]}")
    if len(choices) != n:
        raise InputError(f"endpoint {where} returned {len(choices)} choices, expected {n}")
    contents = [m["content"] or "" for m in messages]
    if not all(isinstance(c, str) for c in contents):
        raise InputError(f"endpoint {where} returned message content that is not a string: {str(contents)[:120]}")
    usage = reply.get("usage") or {}
    if not isinstance(usage, dict):
        raise InputError(f"endpoint {where} returned usage that is not an object: {str(usage)[:120]}")
    prompt, generated = (_token_count(usage, key, where) for key in ("prompt_tokens", "completion_tokens"))
    reasons = ["length" if c.get("finish_reason") == "length" else "stop" for c in choices]
    return [Completion(text, prompt, generated // n, reason) for text, reason in zip(contents, reasons)]


def _token_count(usage: dict, key: str, where: str) -> int:
    value = usage.get(key) or 0
    if type(value) is not int or value < 0:
        raise InputError(f"endpoint {where} returned usage.{key} that is not a non-negative integer: {str(value)[:60]}")
    return value


# ----------------------------------------------------------------------------- choosing a backend


def vllm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def select_backend(backend: str, spec: str, *, has_vllm: bool | None = None, has_cuda: bool | None = None) -> str:
    """`auto`: an endpoint URL -> openai; vLLM importable and a GPU present -> vllm; else hf."""
    from .models import is_endpoint

    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; expected one of: {', '.join(BACKENDS)}")
    if is_endpoint(spec):
        if backend not in ("auto", "openai"):
            raise InputError(f"{spec} is an endpoint URL; it needs backend openai (or auto), not {backend}")
        return "openai"
    if backend == "openai":
        raise InputError(f"backend openai needs an endpoint URL like http://host:port/v1::model, got {spec!r}")
    has_vllm = vllm_available() if has_vllm is None else has_vllm
    if backend == "vllm" and not has_vllm:
        raise InputError("backend vllm requested but vllm is not installed (pip install 'advfc[vllm]')")
    if backend == "auto":
        has_cuda = cuda_available() if has_cuda is None else has_cuda
        return "vllm" if has_vllm and has_cuda else "hf"
    return backend


def build_generator(
    spec: str,
    backend: str = "auto",
    *,
    batch_size: int = 8,
    device: str | None = None,
    dtype: str = "auto",
    prefix_reuse: bool = True,
    concurrency: int = 8,
    timeout: float = 120.0,
    max_retries: int = 4,
    api_key_env: str = "OPENAI_API_KEY",
    chat_template_kwargs: dict | None = None,
) -> Generator:
    """A generator for a model spec (`embedded`, `tiny`, a folder, an adapter folder, a hub id, or
    an endpoint URL)."""
    chosen = select_backend(backend, spec, has_cuda=False if device == "cpu" else None)
    if chosen == "openai":
        return OpenAIGenerator(
            spec, concurrency=concurrency, timeout=timeout, max_retries=max_retries,
            api_key_env=api_key_env, chat_template_kwargs=chat_template_kwargs,
        )
    if chosen == "vllm":
        return VLLMGenerator(spec, dtype=dtype, chat_template_kwargs=chat_template_kwargs)
    from .models import adapter_base, fingerprint, load_model, load_tokenizer, resolve_model

    path = resolve_model(spec)
    model = load_model(spec, dtype=dtype, device=device)
    info = {
        "backend": "hf",
        "model": spec,
        "path": path,
        "base_model": adapter_base(path),
        "fingerprint": fingerprint(path),
    }
    min_prefix = MIN_PREFIX_TOKENS if prefix_reuse else None
    return HFGenerator(model, load_tokenizer(spec), batch_size=batch_size, min_prefix_tokens=min_prefix, info=info,
                       chat_template_kwargs=chat_template_kwargs)

