"""The generation interface: decoding settings, completions, the `Generator` protocol, and the
choice of backend. No ML framework is imported here; `build_generator` imports the backend it
picks (`hf`, `vllm`, `openai`) only then.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Protocol

from ..errors import InputError
from ..models import adapter_base, fingerprint, is_endpoint, load_model, load_tokenizer, resolve_model

BACKENDS = ("auto", "hf", "vllm", "openai")
BASE_ADAPTER = "__base__"  # generate with a PEFT model's base weights


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


# ----------------------------------------------------------------------------- choosing a backend


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def cuda_available() -> bool:
    import torch  # heavy: only asked when choosing a backend for a local model

    return torch.cuda.is_available()


def select_backend(backend: str, spec: str, *, has_vllm: bool | None = None, has_cuda: bool | None = None) -> str:
    """`auto`: an endpoint URL -> openai; vLLM importable and a GPU present -> vllm; else hf."""
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
    an endpoint URL). The chosen backend's module, and with it its framework, is imported only here."""
    chosen = select_backend(backend, spec, has_cuda=False if device == "cpu" else None)
    if chosen == "openai":
        from .openai import OpenAIGenerator

        return OpenAIGenerator(
            spec, concurrency=concurrency, timeout=timeout, max_retries=max_retries,
            api_key_env=api_key_env, chat_template_kwargs=chat_template_kwargs,
        )
    if chosen == "vllm":
        from .vllm import VLLMGenerator

        return VLLMGenerator(spec, dtype=dtype, chat_template_kwargs=chat_template_kwargs)
    from .hf import MIN_PREFIX_TOKENS, HFGenerator

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

