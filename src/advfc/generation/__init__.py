"""Text generation behind one interface, so evaluation, serving and the RL loop never care which
engine produced a completion.

Backends, one module each: `hf.HFGenerator` (transformers on CPU/CUDA, batched, with shared-prefix
KV reuse), `vllm.VLLMGenerator` (used automatically on a GPU when vLLM is installed) and
`openai.OpenAIGenerator` (any OpenAI-compatible chat endpoint). All take chat conversations and
return `n` completions each, in input order. This package exports the interface, which needs no
ML framework; `build_generator` imports the backend it picks.
"""

from .base import (
    BACKENDS,
    BASE_ADAPTER,
    Completion,
    Generator,
    SamplingParams,
    build_generator,
    cuda_available,
    select_backend,
    vllm_available,
)
from .openai import ENV_NAME_PATTERN, api_key_from, endpoint_url, is_loopback_host, may_receive_key

__all__ = [
    "BACKENDS",
    "BASE_ADAPTER",
    "ENV_NAME_PATTERN",
    "Completion",
    "Generator",
    "SamplingParams",
    "api_key_from",
    "build_generator",
    "cuda_available",
    "endpoint_url",
    "is_loopback_host",
    "may_receive_key",
    "select_backend",
    "vllm_available",
]
